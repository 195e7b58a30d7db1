"""Service and lifecycle states, readiness, and the events listeners get.

Readiness is event-driven: a count of READY services is kept as states
change, and waiters wait on an asyncio.Event, never by polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ._plan import Plan
from ._registry import Entry
from ._report import Event, ServiceReport
from ._service import LifecycleState, ServiceState
from .exceptions import ReadinessTimeoutError, UnknownServiceError

__all__ = ["RUNNING_STATES", "StateBoard"]

log = logging.getLogger("haraka_di")

RUNNING_STATES = frozenset({ServiceState.STARTED, ServiceState.READY})


class StateBoard:
    """Where every state lives: the orchestrator's lifecycle, each service's
    state and readiness; tells listeners of each change.

    ``known_names`` gives the registered names before a run has entries
    (for error messages).
    """

    def __init__(self, known_names: Callable[[], list[str]]) -> None:
        self.lifecycle = LifecycleState.CREATED
        self.entries: dict[str, Entry] = {}
        self.listeners: list[Callable[[Event], None]] = []
        self.all_ready = asyncio.Event()
        self.stop_requested = asyncio.Event()
        self._ready_count = 0
        self._known_names = known_names

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    def set_state(
        self, entry: Entry, state: ServiceState, error: BaseException | None = None
    ) -> None:
        was_ready = entry.state is ServiceState.READY
        entry.state = state
        now_ready = state is ServiceState.READY
        if was_ready != now_ready:
            self._ready_count += 1 if now_ready else -1
            if self.lifecycle is LifecycleState.RUNNING:  # else not ready, and cleared already
                self.sync_ready()
        if self.listeners:  # build the event only for someone: this runs 4x per service
            self.emit(Event(entry.name, state, now_ready, self.lifecycle, error))

    def set_lifecycle(self, state: LifecycleState) -> None:
        self.lifecycle = state
        log.debug("orchestrator %s", state.name)
        self.sync_ready()
        self.emit(Event(None, None, self.is_ready(), state))

    def request_stop(self) -> None:
        """Not ready from the request on, not from the first stop."""
        self.stop_requested.set()
        self.sync_ready()

    def sync_ready(self) -> None:
        if self.is_ready():
            self.all_ready.set()
        else:
            self.all_ready.clear()

    def emit(self, event: Event) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)

    def entry(self, name: str) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            known = self.entries.keys() if self.entries else self._known_names()
            raise UnknownServiceError(name, known)
        return entry

    # -- readiness ------------------------------------------------------------

    def mark_ready(self, name: str) -> None:
        entry = self.entry(name)
        entry.declared_ready = True
        if entry.state is ServiceState.STARTED:
            self.set_state(entry, ServiceState.READY)
        elif entry.state is ServiceState.STARTING:
            self.emit(Event(name, entry.state, True, self.lifecycle))

    def mark_not_ready(self, name: str) -> None:
        entry = self.entry(name)
        entry.declared_ready = False
        if entry.state is ServiceState.READY:
            self.set_state(entry, ServiceState.STARTED)

    def is_ready(self, name: str | None = None) -> bool:
        if name is not None:
            return self.entry(name).state is ServiceState.READY
        return (
            self.lifecycle is LifecycleState.RUNNING
            and not self.stop_requested.is_set()
            and self._ready_count == len(self.entries)
        )

    async def wait_for_all_ready(self, timeout: float | None) -> None:
        waits = [
            asyncio.ensure_future(self.all_ready.wait()),
            asyncio.ensure_future(self.stop_requested.wait()),
        ]
        try:
            if not self.is_ready() and self.lifecycle is not LifecycleState.DESTROYED:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self.is_ready():
            return
        missing = [n for n, e in self.entries.items() if e.state is not ServiceState.READY]
        if not self.entries:  # before run(): every registered service
            missing = self._known_names()
        named = ", ".join(missing) or "none"
        state = self.lifecycle.name
        why = f"within {timeout}s" if state in ("CREATED", "STARTING", "RUNNING") else "now"
        raise ReadinessTimeoutError(
            f"Services not ready {why}: {named} (orchestrator is {state})",
            missing,
            self.lifecycle,
        )

    def report(
        self, plan: Plan, entries: dict[str, Entry], counts: dict[str, tuple[int, int]]
    ) -> list[ServiceReport]:
        return [_report_of(plan, entries[n], counts.get(n, (0, 0))) for n in plan.order]


def _report_of(plan: Plan, entry: Entry, counts: tuple[int, int]) -> ServiceReport:
    n = entry.name
    return ServiceReport(
        name=n,
        state=entry.state,
        ready=entry.state is ServiceState.READY,
        priority=plan.priority[n],
        effective_priority=plan.effective_priority[n],
        wave=plan.wave[n],
        dependencies=plan.dependencies[n],
        start_offset=entry.start_offset,
        start_duration=entry.start_duration,
        stop_duration=entry.stop_duration,
        error=repr(entry.error) if entry.error is not None else None,
        crashes=counts[0],
        restarts=counts[1],
    )
