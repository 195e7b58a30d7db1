"""``haraka graph`` output: text, mermaid, dot and json renderings of a plan."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._plan import Plan
from .._service import LAST

__all__ = ["FORMATS", "render"]


def _describe(plan: Plan, classes: Mapping[str, str], disabled: Sequence[str]) -> dict[str, Any]:
    return {
        "services": [
            {
                "name": name,
                "class": classes.get(name, ""),
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
        "disabled": list(disabled),
    }


def _number(priority: int) -> str:
    return "LAST" if priority == LAST else str(priority)


def _priority(plan: Plan, name: str) -> str:
    own, eff = plan.priority[name], plan.effective_priority[name]
    if own == eff:
        return f"priority {_number(own)}"
    return f"priority {_number(own)} (effective {_number(eff)})"


def _text(plan: Plan, classes: Mapping[str, str], disabled: Sequence[str]) -> str:
    waves = plan.waves()
    lines = [f"{len(plan)} service(s), {plan.edge_count} dependency edge(s), {len(waves)} wave(s)"]
    width = max((len(n) for n in plan.order), default=0)
    position = {name: i + 1 for i, name in enumerate(plan.order)}
    for number, group in enumerate(waves):
        lines.append(f"wave {number}:")
        for name in group:
            deps = plan.dependencies[name]
            after = f"  <- {', '.join(deps)}" if deps else ""
            cls = f"  [{classes[name]}]" if classes.get(name) else ""
            lines.append(
                f"  {position[name]:>3}. {name.ljust(width)}  {_priority(plan, name)}{cls}{after}"
            )
    if disabled:
        lines.append(f"disabled: {', '.join(disabled)}")
    lines.append("stop order: " + " -> ".join(reversed(plan.order)) if plan.order else "")
    return "\n".join(line for line in lines if line)


def _node_id(name: str, ids: dict[str, str]) -> str:
    if name not in ids:
        ids[name] = f"s{len(ids)}"
    return ids[name]


def _mermaid(plan: Plan, classes: Mapping[str, str], disabled: Sequence[str]) -> str:
    ids: dict[str, str] = {}
    lines = ["flowchart TD"]
    for name in plan.order:
        label = f"{name}<br/>{_priority(plan, name)}, wave {plan.wave[name]}"
        lines.append(f'    {_node_id(name, ids)}["{_escape_mermaid(label)}"]')
    for name in disabled:
        label = _escape_mermaid(name)
        lines.append(f'    {_node_id(name, ids)}["{label}<br/>disabled"]:::disabled')
    for name in plan.order:
        for dep in plan.dependencies[name]:
            lines.append(f"    {_node_id(dep, ids)} --> {_node_id(name, ids)}")
    if disabled:
        lines.append("    classDef disabled stroke-dasharray: 5 5")
    return "\n".join(lines)


def _escape_mermaid(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot(plan: Plan, classes: Mapping[str, str], disabled: Sequence[str]) -> str:
    lines = ["digraph services {", "    rankdir=LR;", "    node [shape=box];"]
    for name in plan.order:
        label = f"{name}\\n{_priority(plan, name)}\\nwave {plan.wave[name]}"
        lines.append(f'    "{_escape_dot(name)}" [label="{_escape_dot(label, keep=True)}"];')
    for name in disabled:
        quoted = _escape_dot(name)
        lines.append(f'    "{quoted}" [label="{quoted}\\ndisabled" style=dashed];')
    for name in plan.order:
        for dep in plan.dependencies[name]:
            lines.append(f'    "{_escape_dot(dep)}" -> "{_escape_dot(name)}";')
    lines.append("}")
    return "\n".join(lines)


def _escape_dot(text: str, keep: bool = False) -> str:
    if keep:  # already contains \n escapes
        return text.replace('"', '\\"')
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _json(plan: Plan, classes: Mapping[str, str], disabled: Sequence[str]) -> str:
    return json.dumps(_describe(plan, classes, disabled), indent=2)


FORMATS: dict[str, Callable[[Plan, Mapping[str, str], Sequence[str]], str]] = {
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
) -> str:
    """``plan`` in ``fmt`` (one of FORMATS). Edges point from a dependency
    to its dependent: the direction things start in."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    return renderer(plan, classes or {}, disabled)
