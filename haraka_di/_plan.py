"""Ordering: effective priorities, cycle detection, start order and waves.

Pure and O(services + edges) (plus a heap over ready services for the
deterministic tie-break, and one sort of the distinct priority values).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .exceptions import (
    CircularDependencyError,
    DisabledDependencyError,
    DuplicateServiceError,
    UnknownDependencyError,
)

__all__ = ["Node", "Plan", "make_plan"]


@dataclass(frozen=True, slots=True)
class Node:
    """A service as planning sees it: a name, a priority, dependencies."""

    name: str
    priority: int = 0
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The ordering of a set of services.

    ``order`` is the start order with ``max_concurrency=1`` (dependencies
    first, higher effective priority first, ties by registration order);
    stopping is its exact reverse. ``wave`` numbers the moments at which
    services may start together when concurrency is unbounded.
    """

    order: tuple[str, ...]
    dependencies: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, tuple[str, ...]]
    priority: Mapping[str, int]
    effective_priority: Mapping[str, int]
    wave: Mapping[str, int]
    index: Mapping[str, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.order)

    @property
    def edge_count(self) -> int:
        return sum(len(d) for d in self.dependencies.values())

    def waves(self) -> list[list[str]]:
        """Services grouped by wave, each group in start order."""
        groups: list[list[str]] = []
        for name in self.order:
            w = self.wave[name]
            while len(groups) <= w:
                groups.append([])
            groups[w].append(name)
        return groups

    def closure(self, names: Iterable[str]) -> set[str]:
        """The given services plus everything they transitively depend on."""
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(self.dependencies[name])
        return seen


def make_plan(nodes: Sequence[Node], disabled: Iterable[str] = ()) -> Plan:
    """Validate and order ``nodes`` (given in registration order).

    Raises DuplicateServiceError, UnknownDependencyError,
    DisabledDependencyError or CircularDependencyError.
    """
    off = set(disabled)
    index: dict[str, int] = {}
    for node in nodes:
        if node.name in index:
            raise DuplicateServiceError(node.name)
        index[node.name] = len(index)
    deps: dict[str, tuple[str, ...]] = {}
    dependents: dict[str, list[str]] = {n.name: [] for n in nodes}
    for node in nodes:
        unique = tuple(dict.fromkeys(node.dependencies))
        for dep in unique:
            if dep not in index:
                if dep in off:
                    raise DisabledDependencyError(dep, node.name)
                raise UnknownDependencyError(dep, node.name)
            dependents[dep].append(node.name)
        deps[node.name] = unique
    topo = _topological(nodes, deps, dependents)
    prio = {n.name: n.priority for n in nodes}
    effective = dict(prio)
    for name in reversed(topo):  # every dependent is seen before its dependencies
        p = effective[name]
        for dep in deps[name]:
            if effective[dep] < p:
                effective[dep] = p
    order, wave = _sequential_order(nodes, deps, dependents, effective, index)
    return Plan(
        order=tuple(order),
        dependencies=deps,
        dependents={k: tuple(v) for k, v in dependents.items()},
        priority=prio,
        effective_priority=effective,
        wave=wave,
        index=index,
    )


def _topological(
    nodes: Sequence[Node],
    deps: Mapping[str, tuple[str, ...]],
    dependents: Mapping[str, list[str]],
) -> list[str]:
    missing = {n.name: len(deps[n.name]) for n in nodes}
    queue = deque(name for name, count in missing.items() if count == 0)
    topo: list[str] = []
    while queue:
        name = queue.popleft()
        topo.append(name)
        for dependent in dependents[name]:
            missing[dependent] -= 1
            if missing[dependent] == 0:
                queue.append(dependent)
    if len(topo) != len(nodes):
        raise CircularDependencyError(_find_cycle(nodes, deps, missing))
    return topo


def _find_cycle(
    nodes: Sequence[Node], deps: Mapping[str, tuple[str, ...]], missing: Mapping[str, int]
) -> list[str]:
    # Every node left over by Kahn's algorithm has a left-over dependency, so
    # following those from any left-over node must come back to a node seen
    # before: that is a cycle.
    name = next(n.name for n in nodes if missing[n.name] > 0)
    path: list[str] = []
    position: dict[str, int] = {}
    while name not in position:
        position[name] = len(path)
        path.append(name)
        name = next(d for d in deps[name] if missing[d] > 0)
    return path[position[name] :]


def _sequential_order(
    nodes: Sequence[Node],
    deps: Mapping[str, tuple[str, ...]],
    dependents: Mapping[str, list[str]],
    effective: Mapping[str, int],
    index: Mapping[str, int],
) -> tuple[list[str], dict[str, int]]:
    levels: dict[int, list[str]] = {}
    for node in nodes:
        levels.setdefault(effective[node.name], []).append(node.name)
    missing = {n.name: len(deps[n.name]) for n in nodes}
    order: list[str] = []
    wave: dict[str, int] = {}
    base = 0
    for level in sorted(levels, reverse=True):
        heap = [(index[n], n) for n in levels[level] if missing[n] == 0]
        heapq.heapify(heap)
        top = base
        while heap:
            _, name = heapq.heappop(heap)
            order.append(name)
            w = base
            for dep in deps[name]:
                if effective[dep] == level and wave[dep] + 1 > w:
                    w = wave[dep] + 1
            wave[name] = w
            top = max(top, w)
            for dependent in dependents[name]:
                missing[dependent] -= 1
                if missing[dependent] == 0 and effective[dependent] == level:
                    heapq.heappush(heap, (index[dependent], dependent))
        base = top + 1
    return order, wave
