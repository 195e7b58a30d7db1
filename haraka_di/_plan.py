"""Ordering: effective priorities, cycle detection, start order and waves.

Pure and O(services + edges) (plus, when registration order is not a
dependency order, a heap over ready services for the deterministic
tie-break, and one sort of the distinct priority values).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, NoReturn

from .exceptions import (
    CircularDependencyError,
    DisabledDependencyError,
    DuplicateServiceError,
    UnknownDependencyError,
)

__all__ = ["Node", "Plan", "make_plan"]


class Node(NamedTuple):
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

    Internally every service is its registration index, and the passes
    below work on flat lists of small ints (why: docs/performance.md,
    "What the engine does to be fast").

    Common cases, taken without a general pass:

    - every dependency was registered before its dependent (a container
      class can only refer to providers defined above). Then the
      registration order is already a topological order - no cycle is
      possible, and within a priority level the start order is simply
      ascending registration order - so no Kahn pass and no heap;
    - every service has the same priority: nothing to propagate, one level.
    """
    names = [node.name for node in nodes]
    n = len(names)
    index = dict(zip(names, range(n), strict=True))
    if len(index) != n:
        raise DuplicateServiceError(_first_repeat(names))
    position = index.get
    uniques: list[tuple[str, ...]] = []
    dep_ids: list[tuple[int, ...]] = []
    forward = True  # every dependency registered before its dependent
    for i, node in enumerate(nodes):
        unique = tuple(node.dependencies)
        if len(unique) > 1 and len(set(unique)) < len(unique):
            unique = tuple(dict.fromkeys(unique))
        ids = tuple(map(position, unique))
        if ids:
            if None in ids:
                _raise_missing(node.name, unique[ids.index(None)], disabled)
            if forward and max(ids) >= i:  # type: ignore[operator,type-var]  # no None left
                forward = False
        uniques.append(unique)
        dep_ids.append(ids)  # type: ignore[arg-type]  # no None left
    users = None if forward else _users(dep_ids)
    topo = range(n) if users is None else _topological(names, dep_ids, users)
    prio = [node.priority for node in nodes]
    uniform = not n or min(prio) == max(prio)
    effective = prio if uniform else _propagated(prio, dep_ids, topo)
    priority = dict(zip(names, prio, strict=True))
    if uniform and users is None:  # the start order is the registration order
        order = tuple(names)
        wave = dict(zip(names, _chain_lengths(dep_ids), strict=True))
    else:
        sequence, waves = _sequential_order(dep_ids, users, effective)
        order = tuple(map(names.__getitem__, sequence))
        wave = dict(zip(order, map(waves.__getitem__, sequence), strict=True))
    return Plan(
        order=order,
        dependencies=dict(zip(names, uniques, strict=True)),
        dependents=_dependents(names, dep_ids),
        priority=priority,
        effective_priority=priority.copy() if uniform else dict(zip(names, effective, strict=True)),
        wave=wave,
        index=index,
    )


def _first_repeat(names: list[str]) -> str:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    raise ValueError("no name is repeated")


def _raise_missing(name: str, dependency: str, disabled: Iterable[str]) -> NoReturn:
    if dependency in set(disabled):
        raise DisabledDependencyError(dependency, name)
    raise UnknownDependencyError(dependency, name)


def _users(dep_ids: list[tuple[int, ...]]) -> list[list[int]]:
    """Each service's dependents, by index (for the general passes only)."""
    users: list[list[int]] = [[] for _ in dep_ids]
    for i, ids in enumerate(dep_ids):
        for j in ids:
            users[j].append(i)
    return users


def _dependents(names: list[str], dep_ids: list[tuple[int, ...]]) -> dict[str, tuple[str, ...]]:
    users: list[list[str]] = [[] for _ in names]
    for name, ids in zip(names, dep_ids, strict=True):
        for j in ids:
            users[j].append(name)
    return dict(zip(names, map(tuple, users), strict=True))


def _propagated(prio: list[int], dep_ids: list[tuple[int, ...]], topo: Sequence[int]) -> list[int]:
    """Effective priorities: every dependent is seen before its dependencies."""
    effective = prio.copy()
    for i in reversed(topo):
        p = effective[i]
        for j in dep_ids[i]:
            if effective[j] < p:
                effective[j] = p
    return effective


def _chain_lengths(dep_ids: list[tuple[int, ...]]) -> list[int]:
    """Waves of a single-level graph in registration (= dependency) order:
    one more than the latest wave among a service's dependencies."""
    wave: list[int] = []
    of = wave.__getitem__
    for ids in dep_ids:
        wave.append(max(map(of, ids)) + 1 if ids else 0)
    return wave


def _topological(
    names: list[str], dep_ids: list[tuple[int, ...]], users: list[list[int]]
) -> list[int]:
    missing = [len(d) for d in dep_ids]
    topo = [i for i, count in enumerate(missing) if count == 0]
    for i in topo:  # Kahn's algorithm; the list is its own FIFO queue
        for k in users[i]:
            missing[k] -= 1
            if missing[k] == 0:
                topo.append(k)
    if len(topo) != len(names):
        raise CircularDependencyError(_find_cycle(names, dep_ids, missing))
    return topo


def _find_cycle(names: list[str], dep_ids: list[tuple[int, ...]], missing: list[int]) -> list[str]:
    # Every node left over by Kahn's algorithm has a left-over dependency, so
    # following those from any left-over node must come back to a node seen
    # before: that is a cycle.
    i = next(i for i, count in enumerate(missing) if count > 0)
    path: list[int] = []
    position: dict[int, int] = {}
    while i not in position:
        position[i] = len(path)
        path.append(i)
        i = next(j for j in dep_ids[i] if missing[j] > 0)
    return [names[j] for j in path[position[i] :]]


def _sequential_order(
    dep_ids: list[tuple[int, ...]], users: list[list[int]] | None, effective: list[int]
) -> tuple[list[int], list[int]]:
    """Start order (priority levels from the highest; within one, dependencies
    first and ties to the lowest index) and each service's wave.

    ``users`` is None when every dependency has a lower index than its
    dependent: ascending index order within a level is then already that
    order."""
    levels: dict[int, list[int]] = {}
    for i, level in enumerate(effective):
        levels.setdefault(level, []).append(i)
    missing = [] if users is None else [len(d) for d in dep_ids]
    order: list[int] = []
    wave = [0] * len(dep_ids)
    base = 0
    for level in sorted(levels, reverse=True):
        start = len(order)
        if users is None:
            order += levels[level]
        else:
            heap = [i for i in levels[level] if missing[i] == 0]  # ascending: a heap
            while heap:
                i = heapq.heappop(heap)
                order.append(i)
                for k in users[i]:
                    missing[k] -= 1
                    if missing[k] == 0 and effective[k] == level:
                        heapq.heappush(heap, k)
        top = base
        for i in order[start:]:  # dependencies come first, so their waves are known
            w = base
            for j in dep_ids[i]:
                if effective[j] == level and wave[j] + 1 > w:
                    w = wave[j] + 1
            wave[i] = w
            if w > top:
                top = w
        base = top + 1
    return order, wave
