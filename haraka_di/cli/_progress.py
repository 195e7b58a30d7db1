"""What ``haraka run`` shows: live startup progress and the timeline table.

Counts say services and resources apart once there is a Resource among the
nodes (:func:`count_nodes`): ``4 service(s)``, or ``5 node(s) (4
service(s), 1 resource(s))``.
"""

from __future__ import annotations

import logging
from typing import Any

from .._record import STARTED
from .._report import Event, count_nodes, timeline
from .._service import LifecycleState, ServiceState

__all__ = ["Progress", "StartedFilter", "count_nodes", "node_kinds", "timeline"]

log = logging.getLogger("haraka_di.progress")


def node_kinds(orchestrator: Any) -> list[str]:
    """The kind of every planned node of ``orchestrator``, in start order
    (``"Service"`` for one given to ``use()``): its report rows say it, from
    one discovery and plan (a lifespan and systemd read the same rows)."""
    return [report.kind for report in orchestrator.report()]


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
