"""What ``Orchestrator.report()`` returns, the events listeners receive, and
the startup timeline table shown from the reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ._service import LifecycleState, ServiceState

__all__ = ["Event", "ServiceReport", "count_nodes", "timeline"]


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """One service's lifecycle so far. Times are seconds; offsets are from
    the moment ``run()`` began starting services."""

    name: str
    state: ServiceState
    ready: bool
    priority: int
    effective_priority: int
    wave: int | None
    dependencies: tuple[str, ...]
    start_offset: float | None
    start_duration: float | None
    stop_duration: float | None
    error: str | None = None
    crashes: int = 0
    restarts: int = 0
    kind: str = "Service"  # or "Resource": a providers.Resource node

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: enums become their values."""
        data = asdict(self)
        data["state"] = self.state.value
        data["dependencies"] = list(self.dependencies)
        return data


@dataclass(frozen=True, slots=True)
class Event:
    """A state change, as given to ``Orchestrator.subscribe`` listeners.

    ``service`` is None for a change of the orchestrator's own ``lifecycle``
    state; otherwise ``state`` is the service's new state and ``ready`` its
    readiness. ``ready`` alone changes on mark_ready / mark_not_ready.
    """

    service: str | None
    state: ServiceState | None
    ready: bool
    lifecycle: LifecycleState
    error: BaseException | None = None


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def count_nodes(kinds: Iterable[str], after: str = "") -> str:
    """How many nodes of which kind, for people.

    Only services: ``4 service(s)``; only Resources: ``2 resource(s)``; both:
    ``5 node(s) (4 service(s), 1 resource(s))``. ``after`` goes right after
    the count (``" ready"``: ``5 node(s) ready (4 service(s), 1 resource(s))``).
    """
    listed = list(kinds)
    resources = sum(1 for kind in listed if kind == "Resource")
    services = len(listed) - resources
    if not resources:
        return f"{services} service(s){after}"
    if not services:
        return f"{resources} resource(s){after}"
    return f"{len(listed)} node(s){after} ({services} service(s), {resources} resource(s))"


def timeline(reports: Sequence[ServiceReport]) -> str:
    """The startup timeline table: node, kind, wave, start offset, duration,
    ready; then one line with the startup's length and the count of nodes."""
    header = ("NODE", "KIND", "WAVE", "START", "DURATION", "READY")
    rows = [
        (
            r.name,
            r.kind,
            "-" if r.wave is None else str(r.wave),
            _ms(r.start_offset),
            _ms(r.start_duration),
            "yes" if r.ready else ("no" if r.state is ServiceState.STARTED else r.state.value),
        )
        for r in sorted(reports, key=lambda r: (r.start_offset is None, r.start_offset or 0.0))
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {2, 3, 4}

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    ends = [
        (r.start_offset or 0.0) + (r.start_duration or 0.0)
        for r in reports
        if r.start_offset is not None
    ]
    count = count_nodes(r.kind for r in reports)
    total = f"startup took {_ms(max(ends) if ends else 0.0)} for {count}"
    if not rows:
        return total
    return "\n".join([line(header), *(line(row) for row in rows), total])
