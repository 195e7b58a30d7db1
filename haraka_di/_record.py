"""The run record: one :class:`Record` per node (state, readiness, timings,
failure, task), and the :class:`Board` that holds them with the
orchestrator's public lifecycle state.

Everything that shows a service's progress reads these records and only
these: ``report()``, the events listeners get, the health endpoints, the
CLI's progress and timeline, and systemd. "Started" is defined once, here
(:data:`STARTED`).

Readiness is event-driven: a count of READY nodes is kept as states change,
and waiters wait on an asyncio.Event, never by polling. ``mark_ready`` and
``mark_not_ready`` are thread-safe: from another thread (a consumer thread,
a ``to_thread`` callback) they check the name at once and take effect on the
run's loop, in the order they were called.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._report import Event, ServiceReport
from ._service import LifecycleState, ServiceState
from .exceptions import ReadinessTimeoutError, UnknownServiceError

if TYPE_CHECKING:
    from ._plan import Plan
    from ._units import Unit

__all__ = ["STARTED", "Board", "Record"]

log = logging.getLogger("haraka_di")

#: The states of a node whose start returned and whose stop has not begun.
STARTED = frozenset({ServiceState.STARTED, ServiceState.READY})


@dataclass(eq=False, slots=True)
class Record:
    """One node's run: what it is, how it is set, and how it went."""

    name: str
    unit: Unit
    priority: int
    start_timeout: float | None
    stop_timeout: float | None
    ready_on_startup: bool
    state: ServiceState = ServiceState.PENDING
    declared_ready: bool = False
    start_offset: float | None = None
    start_duration: float | None = None
    stop_duration: float | None = None
    error: BaseException | None = None
    task: asyncio.Future[Any] | None = None  # its abandoned start, while it may still end
    stop_t0: float = 0.0  # perf_counter() when its stop began

    @property
    def started(self) -> bool:
        return self.state in STARTED


class Board:
    """Where every state lives: the public lifecycle state, each node's
    record and readiness; tells listeners of each change.

    ``known_names`` gives the registered names before a run has records
    (for error messages).
    """

    def __init__(self, known_names: Callable[[], list[str]]) -> None:
        self.lifecycle = LifecycleState.CREATED
        self.records: dict[str, Record] = {}
        self.listeners: list[Callable[[Event], None]] = []
        self.all_ready = asyncio.Event()
        self.stop_requested = asyncio.Event()
        self._ready_count = 0
        self._known_names = known_names
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The run's loop: readiness changes from other threads go through it."""
        self._loop, self._thread = loop, threading.get_ident()

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The run's loop, when called from another thread (else None)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._thread or loop.is_closed():
            return None
        return loop

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    def set_state(
        self, record: Record, state: ServiceState, error: BaseException | None = None
    ) -> None:
        was_ready = record.state is ServiceState.READY
        record.state = state
        now_ready = state is ServiceState.READY
        if was_ready != now_ready:
            self._ready_count += 1 if now_ready else -1
            if self.lifecycle is LifecycleState.RUNNING:  # else not ready, and cleared already
                self._sync_ready()
        if self.listeners:  # build the event only for someone: this runs 4x per node
            self._emit(Event(record.name, state, now_ready, self.lifecycle, error))

    def set_lifecycle(self, state: LifecycleState) -> None:
        if state is self.lifecycle:
            return
        self.lifecycle = state
        log.debug("orchestrator %s", state.name)
        self._sync_ready()
        self._emit(Event(None, None, self.is_ready(), state))

    def request_stop(self) -> None:
        """Not ready from the request on, not from the first stop."""
        self.stop_requested.set()
        self._sync_ready()

    def _sync_ready(self) -> None:
        if self.is_ready():
            self.all_ready.set()
        else:
            self.all_ready.clear()

    def _emit(self, event: Event) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)

    def record(self, name: str) -> Record:
        record = self.records.get(name)
        if record is None:
            known = self.records.keys() if self.records else self._known_names()
            raise UnknownServiceError(name, known)
        return record

    # -- readiness ------------------------------------------------------------

    def mark_ready(self, name: str) -> None:
        record = self.record(name)
        loop = self._elsewhere()
        if loop is not None:  # from a worker thread: applied on the loop, in call order
            loop.call_soon_threadsafe(self.mark_ready, name)
            return
        record.declared_ready = True
        if record.state is ServiceState.STARTED:
            self.set_state(record, ServiceState.READY)
        elif record.state is ServiceState.STARTING:
            self._emit(Event(name, record.state, True, self.lifecycle))

    def mark_not_ready(self, name: str) -> None:
        record = self.record(name)
        loop = self._elsewhere()
        if loop is not None:
            loop.call_soon_threadsafe(self.mark_not_ready, name)
            return
        record.declared_ready = False
        if record.state is ServiceState.READY:
            self.set_state(record, ServiceState.STARTED)

    def is_ready(self, name: str | None = None) -> bool:
        if name is not None:
            return self.record(name).state is ServiceState.READY
        return (
            self.lifecycle is LifecycleState.RUNNING
            and not self.stop_requested.is_set()
            and self._ready_count == len(self.records)
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
        missing = [n for n, r in self.records.items() if r.state is not ServiceState.READY]
        if not self.records:  # before run(): every registered service
            missing = self._known_names()
        named = ", ".join(missing) or "none"
        state = self.lifecycle.name
        why = f"within {timeout}s" if state in ("CREATED", "STARTING", "RUNNING") else "now"
        raise ReadinessTimeoutError(
            f"Services not ready {why}: {named} (orchestrator is {state})",
            missing,
            self.lifecycle,
        )

    # -- reporting --------------------------------------------------------------

    def report(
        self, plan: Plan, records: Mapping[str, Record], counts: dict[str, tuple[int, int]]
    ) -> list[ServiceReport]:
        """One row per node, in start order (``records`` may be a dry run's)."""
        return [_report_of(plan, records[n], counts.get(n, (0, 0))) for n in plan.order]


def _report_of(plan: Plan, record: Record, counts: tuple[int, int]) -> ServiceReport:
    n = record.name
    return ServiceReport(
        name=n,
        state=record.state,
        ready=record.state is ServiceState.READY,
        priority=plan.priority[n],
        effective_priority=plan.effective_priority[n],
        wave=plan.wave[n],
        dependencies=plan.dependencies[n],
        start_offset=record.start_offset,
        start_duration=record.start_duration,
        stop_duration=record.stop_duration,
        error=repr(record.error) if record.error is not None else None,
        crashes=counts[0],
        restarts=counts[1],
        kind=record.unit.kind,
    )
