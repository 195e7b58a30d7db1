"""The per-service work of a run: start one service, stop one service, and
record how each went (states, timings, errors) on the state board."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from ._plan import Plan
from ._registry import Entry
from ._scheduler import GraphRun, Outcome
from ._service import ServiceState
from ._states import StateBoard
from ._tasks import current_service

__all__ = ["Steps", "as_exception", "awaited", "describe", "graph_run"]

log = logging.getLogger("haraka_di")


class Steps:
    """Start and stop steps for :class:`~haraka_di._scheduler.GraphRun`."""

    def __init__(self, board: StateBoard) -> None:
        self.board = board
        self.t0 = 0.0
        self.forced = False  # a forced shutdown cuts stops short: say so
        self.stop_errors: dict[str, Exception] = {}
        self._late_stops: set[asyncio.Task[None]] = set()

    # -- start -------------------------------------------------------------------

    async def start(self, name: str) -> None:
        entry = self.board.entries[name]
        entry.start_offset = time.perf_counter() - self.t0
        self.board.set_state(entry, ServiceState.STARTING)
        log.debug("starting %s", name)
        service = entry.service
        assert service is not None  # built before any start
        current_service.set(name)  # tasks it spawns are counted as its own
        await service.startup()

    def started(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        entry = self.board.entries[name]
        if entry.start_offset is not None:
            entry.start_duration = time.perf_counter() - self.t0 - entry.start_offset
        if outcome is Outcome.DONE:
            if entry.ready_on_startup:
                entry.declared_ready = True
            ready = entry.declared_ready
            log.info("started %s in %.1f ms", name, (entry.start_duration or 0) * 1000)
            self.board.set_state(entry, ServiceState.READY if ready else ServiceState.STARTED)
            return
        if outcome is Outcome.CANCELLED:
            log.info("start of %s cancelled", name)
            self.board.set_state(entry, ServiceState.STOPPED)
            return
        if outcome is Outcome.TIMED_OUT or outcome is Outcome.ABANDONED:
            error = TimeoutError(
                f"service {name!r} did not start within {entry.start_timeout}s"
                + (" and ignored its cancellation" if outcome is Outcome.ABANDONED else "")
            )
        entry.error = error
        log.error("service %s failed to start: %r", name, error)
        self.board.set_state(entry, ServiceState.FAILED, error)

    def start_timeout_of(self, name: str) -> float | None:
        return self.board.entries[name].start_timeout

    def watch_abandoned(self, run: GraphRun) -> None:
        """A start abandoned for ignoring its cancellation may still return
        later: that service is then running, so it is stopped as soon as it
        does (it counted as failed; nothing else would stop it)."""
        for task in run.abandoned:
            name = task.get_name().removeprefix("haraka:")
            if name in self.board.entries:
                task.add_done_callback(functools.partial(self._late_start, name))

    def _late_start(self, name: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        log.warning("service %s finished starting after it was abandoned: stopping it", name)
        late = asyncio.get_running_loop().create_task(
            self._late_stop(self.board.entries[name]), name=f"haraka:late-stop:{name}"
        )
        self._late_stops.add(late)
        late.add_done_callback(self._late_stops.discard)

    async def _late_stop(self, entry: Entry) -> None:
        assert entry.service is not None
        try:
            await asyncio.wait_for(awaited(entry.service.shutdown()), entry.stop_timeout)
        except BaseException as exc:  # nobody awaits this task: log, never raise
            log.error("late stop of service %s failed: %r", entry.name, exc)
        else:
            log.info("stopped %s (late)", entry.name)

    # -- stop ----------------------------------------------------------------------

    async def stop(self, name: str) -> None:
        entry = self.board.entries[name]
        entry.stop_t0 = time.perf_counter()
        self.board.set_state(entry, ServiceState.STOPPING)
        log.debug("stopping %s", name)
        assert entry.service is not None
        await entry.service.shutdown()

    def stopped(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        entry = self.board.entries[name]
        entry.stop_duration = time.perf_counter() - entry.stop_t0
        if outcome is Outcome.DONE:
            log.info("stopped %s", name)
            self.board.set_state(entry, ServiceState.STOPPED)
            return
        if error is None:
            why = "a forced shutdown" if self.forced else f"its {entry.stop_timeout}s timeout"
            error = TimeoutError(f"stop of service {name!r} was cut short by {why}")
        self.stop_errors[name] = as_exception(error)
        entry.error = error
        log.error("service %s failed to stop: %r", name, error)
        self.board.set_state(entry, ServiceState.FAILED, error)

    def stop_timeout_of(self, name: str) -> float | None:
        return self.board.entries[name].stop_timeout


def graph_run(
    plan: Plan,
    names: Iterable[str],
    waits_for: Mapping[str, Iterable[str]],
    *,
    fail_fast: bool,
    max_concurrency: int | None,
    cancel_grace: float,
) -> GraphRun:
    """A GraphRun over ``names`` (in plan or reverse-plan order), grouped by
    effective priority level."""
    groups: list[list[str]] = []
    level: int | None = None
    for name in names:
        p = plan.effective_priority[name]
        if p != level:
            groups.append([])
            level = p
        groups[-1].append(name)
    return GraphRun(
        groups,
        waits_for,
        max_concurrency=max_concurrency,
        fail_fast=fail_fast,
        cancel_grace=cancel_grace,
    )


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
    try:
        return await awaitable
    except (KeyboardInterrupt, SystemExit) as exc:
        # Raised out of a task, these would tear through the event loop.
        raise as_exception(exc) from exc
