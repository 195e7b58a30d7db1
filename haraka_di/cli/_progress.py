"""What ``haraka run`` shows: live startup progress and the timeline table.

Counts say services and resources apart once there is a Resource among the
nodes (:func:`count_nodes`): ``4 service(s)``, or ``5 node(s) (4
service(s), 1 resource(s))``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .._record import STARTED
from .._report import Event, ServiceReport
from .._service import LifecycleState, ServiceState

__all__ = ["Progress", "StartedFilter", "count_nodes", "node_kinds", "timeline"]

log = logging.getLogger("haraka_di.progress")


def count_nodes(kinds: Iterable[str], after: str = "") -> str:
    """How many nodes of which kind, for people.

    Only services: ``4 service(s)``; with Resources among them: ``5 node(s)
    (4 service(s), 1 resource(s))``. ``after`` goes right after the count
    (``" ready"``: ``5 node(s) ready (4 service(s), 1 resource(s))``).
    """
    listed = list(kinds)
    resources = sum(1 for kind in listed if kind == "Resource")
    services = len(listed) - resources
    if not resources:
        return f"{services} service(s){after}"
    return f"{len(listed)} node(s){after} ({services} service(s), {resources} resource(s))"


def node_kinds(orchestrator: Any) -> list[str]:
    """The kind of every planned node of ``orchestrator``, in start order
    (``"Service"`` for one given to ``use()``)."""
    kinds = {spec.name: spec.kind for spec in orchestrator.graph().services}
    return [kinds.get(name, "Service") for name in orchestrator.plan().order]


class Progress:
    """An orchestrator listener logging which services start and finish.

    ``orchestrator.subscribe(Progress(orchestrator))``; lines go to the
    ``haraka_di.progress`` logger at INFO.
    """

    def __init__(self, orchestrator: Any) -> None:
        self.orchestrator = orchestrator
        self.kinds = node_kinds(orchestrator)
        self.total = len(self.kinds)
        self.done = 0
        self._announced_ready = False

    def __call__(self, event: Event) -> None:
        name = event.service
        if name is None:
            if event.lifecycle is LifecycleState.RUNNING and event.ready:
                self._all_ready()
            return
        state = event.state
        if state is ServiceState.STARTING:
            log.info("starting %s ...", name)
        elif event.lifecycle is LifecycleState.STARTING and state in STARTED:
            self.done += 1
            ready = "ready" if state is ServiceState.READY else "started, not ready yet"
            log.info("[%d/%d] %s %s", self.done, self.total, name, ready)
        elif event.lifecycle is LifecycleState.RUNNING and state is ServiceState.READY:
            log.info("%s is ready", name)
            if self.orchestrator.is_ready():
                self._all_ready()
        elif event.lifecycle is LifecycleState.RUNNING and state is ServiceState.STARTED:
            log.warning("%s is no longer ready", name)
            self._announced_ready = False

    def _all_ready(self) -> None:
        if not self._announced_ready:
            self._announced_ready = True
            log.info("all %s", count_nodes(self.kinds, " ready"))


class StartedFilter(logging.Filter):
    """Drops the core's ``started NAME in X ms`` lines (Progress shows them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "haraka_di" and str(record.msg).startswith("started %s in"))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


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
