"""The per-node steps of a run: start one node, stop one node, and write
how each went (state, timings, failure) into its record.

One stop path: the stop step of a stop run and the late stop of a start
that finished after it was abandoned both go through :meth:`Steps.stop`
and :meth:`Steps.stopped`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._record import Board, Record
from ._scheduler import GraphRun, Outcome
from ._service import ServiceState

__all__ = ["Steps", "as_exception", "awaited", "describe"]

log = logging.getLogger("haraka_di")


class Steps:
    """Start and stop steps for :class:`~haraka_di._scheduler.GraphRun`.

    ``forced()`` says whether the shutdown is being forced (a stop cut
    short then says so). Each node that starts is appended to ``started``,
    in the order their starts returned: the record of exactly what started
    (with the nodes whose start did not finish but left cleanup pending).
    """

    def __init__(self, board: Board, forced: Callable[[], bool]) -> None:
        self.board = board
        self.t0 = 0.0
        self.started: list[str] = []
        self.stop_errors: dict[str, Exception] = {}
        self._forced = forced
        self._late_stops: set[asyncio.Task[None]] = set()

    # -- start -------------------------------------------------------------------

    def start(self, name: str) -> Awaitable[None]:
        record = self.board.records[name]
        record.start_offset = time.perf_counter() - self.t0
        self.board.set_state(record, ServiceState.STARTING)
        log.debug("starting %s", name)
        return record.unit.start()

    def start_direct(self, names: Sequence[str]) -> list[asyncio.Future[object] | BaseException]:
        """Start direct nodes (Resources) together: each becomes STARTING,
        then their inits are called back to back; per node its future, or
        what its init raised at once."""
        records = [self.board.records[name] for name in names]
        offset = time.perf_counter() - self.t0
        set_state, starting = self.board.set_state, ServiceState.STARTING
        for record in records:
            record.start_offset = offset
            set_state(record, starting)
        if log.isEnabledFor(logging.DEBUG):
            for name in names:
                log.debug("starting %s", name)
        started: list[asyncio.Future[object] | BaseException] = []
        for record in records:
            try:
                started.append(record.unit.start())  # type: ignore[arg-type]  # (direct)
            except BaseException as exc:
                started.append(exc)
        return started

    def on_started(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        record = self.board.records[name]
        if record.start_offset is not None:
            record.start_duration = time.perf_counter() - self.t0 - record.start_offset
        if outcome is Outcome.DONE:
            self.started.append(name)
            if record.ready_on_startup:
                record.declared_ready = True
            log.info("started %s in %.1f ms", name, (record.start_duration or 0) * 1000)
            ready = record.declared_ready
            self.board.set_state(record, ServiceState.READY if ready else ServiceState.STARTED)
            return
        if record.unit.pending:  # it opened something all the same: undone like a start
            self.started.append(name)
        if outcome is Outcome.CANCELLED:
            log.info("start of %s cancelled", name)
            self.board.set_state(record, ServiceState.STOPPED)
            return
        kind = record.unit.kind.lower()
        if outcome is Outcome.TIMED_OUT or outcome is Outcome.ABANDONED:
            what = (
                f"building {kind} {name!r} did not finish"
                if record.unit.building
                else f"{kind} {name!r} did not start"
            )
            error = TimeoutError(
                f"{what} within {record.start_timeout}s"
                + (" and ignored its cancellation" if outcome is Outcome.ABANDONED else "")
            )
        record.error = error
        log.error("%s %s failed to start: %r", kind, name, error)
        self.board.set_state(record, ServiceState.FAILED, error)

    def start_timeout_of(self, name: str) -> float | None:
        return self.board.records[name].start_timeout

    def watch_abandoned(self, run: GraphRun) -> None:
        """A start abandoned for ignoring its cancellation may still return
        later: that node is then running, so it is stopped as soon as it
        does (it counted as failed; nothing else would stop it)."""
        for name, task in run.abandoned.items():
            record = self.board.records[name]
            record.task = task
            task.add_done_callback(functools.partial(self._late_start, record))

    def _late_start(self, record: Record, task: asyncio.Future[Any]) -> None:
        record.task = None
        if task.cancelled() or task.exception() is not None:
            return
        log.warning("service %s finished starting after it was abandoned: stopping it", record.name)
        late = asyncio.get_running_loop().create_task(
            self._late_stop(record.name), name=f"haraka:late-stop:{record.name}"
        )
        self._late_stops.add(late)
        late.add_done_callback(self._late_stops.discard)

    async def _late_stop(self, name: str) -> None:
        timeout = self.board.records[name].stop_timeout
        try:
            await asyncio.wait_for(awaited(self.stop(name)), timeout)
        except TimeoutError:
            self.stopped(name, Outcome.TIMED_OUT, None)
        except BaseException as exc:  # nobody awaits this task: record and log, never raise
            self.stopped(name, Outcome.FAILED, exc)
        else:
            self.stopped(name, Outcome.DONE, None)

    # -- stop ----------------------------------------------------------------------

    def stop(self, name: str) -> Awaitable[None]:
        record = self.board.records[name]
        record.stop_t0 = time.perf_counter()
        self.board.set_state(record, ServiceState.STOPPING)
        log.debug("stopping %s", name)
        return record.unit.stop()

    def on_stopped(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        self.stopped(name, outcome, error)

    def stopped(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        record = self.board.records[name]
        record.stop_duration = time.perf_counter() - record.stop_t0
        if outcome is Outcome.DONE:
            log.info("stopped %s", name)
            self.board.set_state(record, ServiceState.STOPPED)
            return
        kind = record.unit.kind.lower()
        if error is None:
            why = "a forced shutdown" if self._forced() else f"its {record.stop_timeout}s timeout"
            error = TimeoutError(f"stop of {kind} {name!r} was cut short by {why}")
        self.stop_errors[name] = as_exception(error)
        record.error = error
        log.error("%s %s failed to stop: %r", kind, name, error)
        self.board.set_state(record, ServiceState.FAILED, error)

    def stop_timeout_of(self, name: str) -> float | None:
        return self.board.records[name].stop_timeout


def as_exception(error: BaseException) -> Exception:
    """ExceptionGroups hold Exceptions only: wrap a KeyboardInterrupt & co."""
    if isinstance(error, Exception):
        return error
    wrapped = RuntimeError(f"{type(error).__name__} raised: {error!r}")
    wrapped.__cause__ = error
    return wrapped


def describe(name: str, error: BaseException) -> str:
    return f"{name!r}: {type(error).__name__}: {error}"


async def awaited(awaitable: Awaitable[Any]) -> Any:
    """Await ``awaitable`` in a task: a KeyboardInterrupt or SystemExit it
    raises would tear through the event loop, so it becomes an Exception."""
    try:
        return await awaitable
    except (KeyboardInterrupt, SystemExit) as exc:
        raise as_exception(exc) from exc
