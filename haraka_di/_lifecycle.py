"""The lifecycle state machine: one phase, a record of exactly what started,
and undoing exactly that.

The phase is the only state. Each transition is one method:

=============  =====================  ==========  ==================================
from           call                   to          what happens
=============  =====================  ==========  ==================================
CREATED        :meth:`start`          STARTING    nodes start along the plan
STARTING       (all started)          RUNNING     background tasks start
STARTING       :meth:`interrupt`      ABORTING    in-flight starts are cancelled
STARTING,      (a start failed, or    STOPPING    what started is stopped in
ABORTING       it was interrupted)                reverse; ``start`` raises
                                                  StartupError
RUNNING        :meth:`begin_stop`     STOPPING    drain, tasks cancelled, what
                                                  started stopped in reverse,
                                                  shutdown tasks
ABORTING,      :meth:`force`          FORCING     no drain; in-flight stops cut
STOPPING                                          short, later ones (and shutdown
                                                  tasks) must end within
                                                  ``cancel_grace`` of the force
STOPPING,      (teardown done)        DESTROYED   the cleanup stack is closed
FORCING                                           (assembly undone, signals put back)
CREATED        :meth:`destroy`        DESTROYED   nothing ran
=============  =====================  ==========  ==================================

Stopping follows fx's lifecycle: count what started (:attr:`Steps.started`,
appended as each start returns), stop exactly that in reverse, keep going
past failing or hanging stops, and report them together.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import inspect
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from ._plan import Plan
from ._record import Board, Record
from ._report import count_nodes
from ._scheduler import GraphRun, Outcome
from ._service import LifecycleState
from ._steps import Steps, as_exception, awaited, describe
from ._tasks import Supervisor
from .exceptions import ShutdownError, StartupError

__all__ = ["Lifecycle", "Phase", "RunOptions"]

log = logging.getLogger("haraka_di")

#: The lifecycle whose teardown runs in this context (stop steps and shutdown
#: tasks inherit it), so a shutdown() from inside does not wait on itself.
_TEARDOWN: contextvars.ContextVar[object] = contextvars.ContextVar(
    "haraka_di_teardown", default=None
)


class Phase(enum.Enum):
    """The lifecycle's phases; two more than the public LifecycleState."""

    CREATED = enum.auto()
    STARTING = enum.auto()
    ABORTING = enum.auto()  # public: STARTING
    RUNNING = enum.auto()
    STOPPING = enum.auto()
    FORCING = enum.auto()  # public: STOPPING
    DESTROYED = enum.auto()


_PUBLIC = {
    Phase.CREATED: LifecycleState.CREATED,
    Phase.STARTING: LifecycleState.STARTING,
    Phase.ABORTING: LifecycleState.STARTING,
    Phase.RUNNING: LifecycleState.RUNNING,
    Phase.STOPPING: LifecycleState.STOPPING,
    Phase.FORCING: LifecycleState.STOPPING,
    Phase.DESTROYED: LifecycleState.DESTROYED,
}


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The orchestrator-wide options the lifecycle needs."""

    max_concurrency: int | None
    stop_timeout: float | None
    drain_seconds: float
    cancel_grace: float


class Lifecycle:
    """Owns the phase and runs the transitions of one orchestrator.

    ``cleanup`` is closed once, when the phase becomes DESTROYED; whoever
    set something up for the run (signal handlers, the container's
    overrides) pushes its undo there. ``on_failed()`` is told of a failed
    startup and of failed stops (the exit status is decided elsewhere).
    """

    def __init__(
        self,
        board: Board,
        supervisor: Supervisor,
        options: RunOptions,
        cleanup: ExitStack,
        on_failed: Callable[[], None],
    ) -> None:
        self.phase = Phase.CREATED
        self.board = board
        self.steps = Steps(board, lambda: self.phase is Phase.FORCING)
        self.shutdown_tasks: list[Callable[[], Any]] = []
        self._supervisor = supervisor
        self._options = options
        self._cleanup = cleanup
        self._on_failed = on_failed
        self._plan: Plan | None = None
        self._run: GraphRun | None = None  # the start or stop run in flight
        self._why: tuple[str, int | None] = ("", None)  # what interrupted startup
        self._stop_task: asyncio.Task[None] | None = None
        self._forced = asyncio.Event()  # wakes a drain or shutdown task when forced
        self._forced_until = 0.0  # loop time by which what follows a force must end
        self._destroyed = asyncio.Event()

    @property
    def state(self) -> LifecycleState:
        return _PUBLIC[self.phase]

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.board.set_lifecycle(_PUBLIC[phase])

    # -- transitions -----------------------------------------------------------

    async def start(self, plan: Plan, records: dict[str, Record]) -> None:
        """CREATED -> STARTING -> RUNNING; on a failure or an interruption,
        stop what started and raise StartupError (the phase is DESTROYED)."""
        self._plan, self.board.records = plan, records
        self.board.bind_loop(asyncio.get_running_loop())
        self.steps.t0 = time.perf_counter()
        self._enter(Phase.STARTING)
        steps = self.steps
        run = self._run = self._graph_run(plan, plan.order, plan.dependencies, fail_fast=True)
        try:
            direct = {name for name, record in records.items() if record.unit.direct}
            outcomes = await run.run(
                steps.start, steps.start_timeout_of, steps.on_started, direct, steps.start_direct
            )
        except BaseException:  # we were cancelled ourselves: undo, and let it through
            self._run = None
            await self._teardown(drain=False)
            raise
        self._run = None
        steps.watch_abandoned(run)
        failed = (Outcome.FAILED, Outcome.TIMED_OUT, Outcome.ABANDONED)
        failures = {n: records[n].error for n, (o, _) in outcomes.items() if o in failed}
        if failures or self.phase is not Phase.STARTING:
            await self._fail_startup({n: e for n, e in failures.items() if e is not None})
        self._enter(Phase.RUNNING)
        self._supervisor.start()

    def interrupt(self, why: str, signal: int | None = None) -> bool:
        """STARTING -> ABORTING: start nothing more, cancel what is in flight."""
        if self.phase is not Phase.STARTING:
            return False
        self._why = (why, signal)
        self._enter(Phase.ABORTING)
        self.board.request_stop()
        if self._run is not None:
            self._run.abort()
        return True

    def begin_stop(self) -> asyncio.Task[None] | None:
        """RUNNING -> STOPPING, as a task that later callers wait for."""
        if self.phase is Phase.RUNNING:
            self._enter(Phase.STOPPING)
            task = asyncio.get_running_loop().create_task(self._stop(), name="haraka:shutdown")
            task.add_done_callback(_retrieve)
            self._stop_task = task
        return self._stop_task

    def force(self) -> bool:
        """ABORTING or STOPPING -> FORCING: no drain; stops in flight are cut
        short now; the later ones and the shutdown tasks still run, but must
        end within ``cancel_grace`` of now (a quick ``close()`` still
        completes; only what really takes longer is cut short)."""
        if self.phase not in (Phase.ABORTING, Phase.STOPPING):
            return False
        self._enter(Phase.FORCING)
        self._forced_until = asyncio.get_running_loop().time() + self._options.cancel_grace
        self._forced.set()
        if self._run is not None:
            self._run.hurry(self._forced_until)
        return True

    def destroy(self) -> None:
        """CREATED -> DESTROYED: nothing ran."""
        if self.phase is Phase.CREATED:
            self._enter(Phase.DESTROYED)
            self._cleanup.close()
            self._destroyed.set()

    async def wait_destroyed(self) -> None:
        """Return once the phase is DESTROYED; a caller that waited for the
        stop gets its ShutdownError. (From the teardown itself: at once.)"""
        if _TEARDOWN.get() is self:
            return
        task = self._stop_task
        if task is not None and not task.done():
            await asyncio.shield(task)
        elif task is None:
            await self._destroyed.wait()

    # -- undoing what started ------------------------------------------------------

    async def _fail_startup(self, failures: Mapping[str, BaseException]) -> None:
        records = self.board.records
        started = count_nodes(records[name].unit.kind for name in self.steps.started)
        stop_errors = await self._teardown(drain=False)
        why, signal = self._why
        if failures:
            what = "; ".join(describe(name, err) for name, err in failures.items())
            message = f"Startup failed: {what}"
        else:
            message = f"Startup interrupted by {why}"
        message += f". Stopped the {started} that had started"
        if stop_errors:
            message += " (some stops failed: " + ", ".join(stop_errors) + ")"
        self._on_failed()
        error = StartupError(message + ".", failures, signal=signal)
        causes = list(failures.values())
        if len(causes) == 1:
            raise error from causes[0]
        if causes:
            raise error from BaseExceptionGroup("startup failures", causes)
        raise error

    async def _stop(self) -> None:
        errors = await self._teardown(drain=True)
        if errors:
            self._on_failed()
            lines = "; ".join(describe(n, e) for n, e in errors.items())
            raise ShutdownError(f"Shutdown finished with failures: {lines}", errors)

    async def _teardown(self, *, drain: bool) -> dict[str, Exception]:
        """Stop what started, in reverse; never raises, returns the failures."""
        token = _TEARDOWN.set(self)
        if self.phase is not Phase.FORCING:
            self._enter(Phase.STOPPING)
        self.board.request_stop()
        errors = self.steps.stop_errors
        try:
            seconds = self._options.drain_seconds
            if drain and seconds > 0 and self.phase is not Phase.FORCING:
                log.info("draining for %.1fs before stopping", seconds)
                await self._unless_forced(None, seconds)
            forced = self.phase is Phase.FORCING
            await self._supervisor.close(0.0 if forced else self._options.cancel_grace)
            await self._stop_started()
            await self._run_shutdown_tasks(errors)
        finally:
            try:
                self._cleanup.close()
            finally:
                self._enter(Phase.DESTROYED)
                self._destroyed.set()
                _TEARDOWN.reset(token)
        return errors

    async def _stop_started(self) -> None:
        plan, started = self._plan, set(self.steps.started)
        if plan is None or not started:
            return
        names = [n for n in reversed(plan.order) if n in started]
        steps = self.steps
        run = self._run = self._graph_run(plan, names, plan.dependents, fail_fast=False)
        if self.phase is Phase.FORCING:
            run.hurry(self._forced_until)
        try:
            await run.run(steps.stop, steps.stop_timeout_of, steps.on_stopped)
        finally:
            self._run = None
            self.steps.started.clear()

    async def _run_shutdown_tasks(self, errors: dict[str, Exception]) -> None:
        """Each shutdown task in turn, within the stop timeout; a forced
        shutdown cuts the one running short, and the rest must end within
        ``cancel_grace`` of the force."""
        for fn in self.shutdown_tasks:
            label = f"shutdown task {getattr(fn, '__qualname__', repr(fn))}"
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await self._unless_forced(result, self._options.stop_timeout, label)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # recorded; the next shutdown task still runs
                log.error("%s failed: %r", label, exc)
                errors[label] = as_exception(exc)

    async def _unless_forced(
        self, awaitable: Any, timeout: float | None, label: str | None = None
    ) -> None:
        """Await ``awaitable`` (None: nothing) for at most ``timeout`` seconds
        or until the shutdown is forced (once forced: until ``cancel_grace``
        after the force); past that, cancel it (within ``cancel_grace``) and,
        for a ``label``led one, raise TimeoutError."""
        forced: asyncio.Future[Any] | None = None
        if self._forced.is_set():  # forced already: what is left of the force's grace
            if awaitable is None:
                return
            left = max(self._forced_until - asyncio.get_running_loop().time(), 0.0)
            timeout = left if timeout is None else min(timeout, left)
        else:
            forced = asyncio.ensure_future(self._forced.wait())
        work = asyncio.ensure_future(awaited(awaitable)) if awaitable is not None else None
        waits = {w for w in (forced, work) if w is not None}
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if forced is not None:
                forced.cancel()
            if work is not None and not work.done():
                work.cancel()
                await asyncio.wait({work}, timeout=self._options.cancel_grace)
        if work is not None and label is not None:
            if not work.done() or work.cancelled():
                why = "a forced shutdown" if self._forced.is_set() else f"its {timeout}s timeout"
                raise TimeoutError(f"{label} was cut short by {why}")
            work.result()

    def _graph_run(
        self,
        plan: Plan,
        names: Iterable[str],
        waits_for: Mapping[str, Iterable[str]],
        *,
        fail_fast: bool,
    ) -> GraphRun:
        """A GraphRun over ``names`` (in plan or reverse-plan order), grouped
        by effective priority level."""
        level = plan.effective_priority.__getitem__
        groups = [list(group) for _, group in itertools.groupby(names, key=level)]
        return GraphRun(
            groups,
            waits_for,
            max_concurrency=self._options.max_concurrency,
            fail_fast=fail_fast,
            cancel_grace=self._options.cancel_grace,
        )


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("shutdown finished with an error: %r", task.exception())
