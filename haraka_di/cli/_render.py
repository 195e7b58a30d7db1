"""``haraka graph`` output: text, mermaid, dot and json renderings of a plan.

Every format says each node's kind: ``Service`` (a provider of a
``haraka_di.Service``, or one given to ``use()``) or ``Resource`` (a
``providers.Resource``), and what runs it (``classes``: the Service class or
the Resource's initialiser). Mermaid and dot also draw a Resource as a
cylinder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._plan import Plan
from .._service import LAST
from ._progress import count_nodes

__all__ = ["FORMATS", "render"]

RESOURCE = "Resource"
SERVICE = "Service"


class _Nodes:
    """What the renderers know of each node besides the plan."""

    __slots__ = ("classes", "disabled", "kinds")

    def __init__(
        self, classes: Mapping[str, str], kinds: Mapping[str, str], disabled: Sequence[str]
    ) -> None:
        self.classes = classes
        self.kinds = kinds
        self.disabled = disabled

    def kind(self, name: str) -> str:
        return self.kinds.get(name, SERVICE)

    def what(self, name: str) -> str:
        """``Resource: init_database``, ``Service: Cache``, or just the kind."""
        runs = self.classes.get(name)
        return f"{self.kind(name)}: {runs}" if runs else self.kind(name)

    def summary(self, plan: Plan) -> str:
        kinds = [self.kind(name) for name in plan.order]
        return (
            f"{count_nodes(kinds)}, {plan.edge_count} dependency edge(s), "
            f"{len(plan.waves())} wave(s)"
        )


def _describe(plan: Plan, nodes: _Nodes) -> dict[str, Any]:
    return {
        "services": [
            {
                "name": name,
                "kind": nodes.kind(name),
                "class": nodes.classes.get(name, ""),
                "priority": plan.priority[name],
                "effective_priority": plan.effective_priority[name],
                "wave": plan.wave[name],
                "order": i + 1,
                "dependencies": list(plan.dependencies[name]),
                "dependents": list(plan.dependents[name]),
            }
            for i, name in enumerate(plan.order)
        ],
        "waves": plan.waves(),
        "stop_order": list(reversed(plan.order)),
        "disabled": list(nodes.disabled),
    }


def _number(priority: int) -> str:
    return "LAST" if priority == LAST else str(priority)


def _priority(plan: Plan, name: str) -> str:
    own, eff = plan.priority[name], plan.effective_priority[name]
    if own == eff:
        return f"priority {_number(own)}"
    return f"priority {_number(own)} (effective {_number(eff)})"


def _text(plan: Plan, nodes: _Nodes) -> str:
    waves = plan.waves()
    lines = [nodes.summary(plan)]
    width = max((len(n) for n in plan.order), default=0)
    position = {name: i + 1 for i, name in enumerate(plan.order)}
    for number, group in enumerate(waves):
        lines.append(f"wave {number}:")
        for name in group:
            deps = plan.dependencies[name]
            after = f"  <- {', '.join(deps)}" if deps else ""
            lines.append(
                f"  {position[name]:>3}. {name.ljust(width)}  {_priority(plan, name)}"
                f"  [{nodes.what(name)}]{after}"
            )
    if nodes.disabled:
        lines.append(f"disabled: {', '.join(nodes.disabled)}")
    lines.append("stop order: " + " -> ".join(reversed(plan.order)) if plan.order else "")
    return "\n".join(line for line in lines if line)


def _node_id(name: str, ids: dict[str, str]) -> str:
    if name not in ids:
        ids[name] = f"s{len(ids)}"
    return ids[name]


def _mermaid(plan: Plan, nodes: _Nodes) -> str:
    ids: dict[str, str] = {}
    lines = ["flowchart TD"]
    for name in plan.order:
        label = f"{name}<br/>{nodes.what(name)}<br/>{_priority(plan, name)}, wave {plan.wave[name]}"
        opening, closing = ("[(", ")]") if nodes.kind(name) == RESOURCE else ("[", "]")
        lines.append(f'    {_node_id(name, ids)}{opening}"{_escape_mermaid(label)}"{closing}')
    for name in nodes.disabled:
        label = _escape_mermaid(name)
        lines.append(f'    {_node_id(name, ids)}["{label}<br/>disabled"]:::disabled')
    for name in plan.order:
        for dep in plan.dependencies[name]:
            lines.append(f"    {_node_id(dep, ids)} --> {_node_id(name, ids)}")
    if nodes.disabled:
        lines.append("    classDef disabled stroke-dasharray: 5 5")
    return "\n".join(lines)


def _escape_mermaid(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot(plan: Plan, nodes: _Nodes) -> str:
    lines = ["digraph services {", "    rankdir=LR;", "    node [shape=box];"]
    for name in plan.order:
        label = "\\n".join(
            _escape_dot(part)
            for part in (name, nodes.what(name), _priority(plan, name), f"wave {plan.wave[name]}")
        )
        shape = " shape=cylinder" if nodes.kind(name) == RESOURCE else ""
        lines.append(f'    "{_escape_dot(name)}" [label="{label}"{shape}];')
    for name in nodes.disabled:
        quoted = _escape_dot(name)
        lines.append(f'    "{quoted}" [label="{quoted}\\ndisabled" style=dashed];')
    for name in plan.order:
        for dep in plan.dependencies[name]:
            lines.append(f'    "{_escape_dot(dep)}" -> "{_escape_dot(name)}";')
    lines.append("}")
    return "\n".join(lines)


def _escape_dot(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _json(plan: Plan, nodes: _Nodes) -> str:
    return json.dumps(_describe(plan, nodes), indent=2)


FORMATS: dict[str, Callable[[Plan, _Nodes], str]] = {
    "text": _text,
    "mermaid": _mermaid,
    "dot": _dot,
    "json": _json,
}


def render(
    plan: Plan,
    fmt: str = "text",
    classes: Mapping[str, str] | None = None,
    disabled: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> str:
    """``plan`` in ``fmt`` (one of FORMATS). Edges point from a dependency
    to its dependent: the direction things start in. ``classes`` says what
    runs each node, ``kinds`` its kind (``"Service"`` where not given)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    return renderer(plan, _Nodes(classes or {}, kinds or {}, disabled))
