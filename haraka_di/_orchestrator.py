"""The orchestrator: registration, the lifecycle state machine, readiness."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any

from ._assembly import Assembly, BuildError
from ._docs import announce_docs, base_url_of
from ._graph import ContainerGraph, as_container, discover
from ._plan import Plan
from ._registry import Entry, Registry
from ._report import Event, ServiceReport
from ._runtime import Runtime
from ._scheduler import GraphRun
from ._service import LifecycleState, Service, ServiceState
from ._signals import SignalHandlers
from ._states import RUNNING_STATES, StateBoard
from ._steps import Steps, as_exception, awaited, describe, graph_run
from ._tasks import RestartPolicy, Supervisor, TaskReport
from .exceptions import (
    HarakaError,
    ShutdownError,
    StartupError,
)

__all__ = ["Orchestrator"]

log = logging.getLogger("haraka_di")

#: The orchestrator whose teardown runs in this context (stop steps and
#: shutdown tasks inherit it), so a shutdown() from inside does not wait on itself.
_TEARDOWN: contextvars.ContextVar[object] = contextvars.ContextVar(
    "haraka_di_teardown", default=None
)


class Orchestrator:
    """Starts services dependencies-first, gates readiness, stops in reverse.

    ``container`` (a dependency-injector container class or instance) is
    optional; services may also be registered with :meth:`use`. Timeouts are
    seconds (None: no limit). ``max_concurrency=1`` starts strictly one at a
    time, ties going to registration order.
    """

    def __init__(
        self,
        container: object = None,
        *,
        max_concurrency: int | None = None,
        start_timeout: float | None = 60.0,
        stop_timeout: float | None = 10.0,
        drain_seconds: float = 0.0,
        handle_signals: bool = True,
        cancel_grace: float = 1.0,
    ) -> None:
        if max_concurrency is not None and (
            not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(
                f"max_concurrency must be a positive integer or None, got {max_concurrency!r}"
            )
        for option, value in (("start_timeout", start_timeout), ("stop_timeout", stop_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{option} must be a positive number of seconds or None")
        if drain_seconds < 0 or cancel_grace < 0:
            raise ValueError("drain_seconds and cancel_grace must not be negative")
        self.container = as_container(container) if container is not None else None
        self.max_concurrency = max_concurrency
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.drain_seconds = drain_seconds
        self.handle_signals = handle_signals
        self.cancel_grace = cancel_grace
        self.exit_code = 0
        self.docs_url: str | None = None
        self._registry = Registry()
        self._board = StateBoard(self._known_names)
        self.runtime = Runtime(self, self._board)  # type: ignore[arg-type]
        self._steps = Steps(self._board)
        self._plan: Plan | None = None
        self._signals = SignalHandlers()
        self._forced: signal.Signals | None = None
        self._abort: str | None = None
        self._abort_signal: int | None = None
        self._start_run: GraphRun | None = None
        self._build_task: asyncio.Future[None] | None = None
        self._stop_run: GraphRun | None = None
        self._assembly = Assembly()
        self._supervisor = Supervisor(self._on_fatal_task)
        self._shutdown_tasks: list[Callable[[], Any]] = []
        self._shutdown_task: asyncio.Task[None] | None = None
        self._force_event = asyncio.Event()
        self._destroyed = asyncio.Event()

    # -- registration -------------------------------------------------------

    @property
    def state(self) -> LifecycleState:
        """The lifecycle state: CREATED, STARTING, RUNNING, STOPPING, DESTROYED."""
        return self._board.lifecycle

    def use(
        self,
        service: Service,
        priority: int | None = None,
        dependencies: Iterable[str] = (),
        *,
        start_timeout: float | None = None,
        stop_timeout: float | None = None,
    ) -> Service:
        """Register ``service``; ``priority`` defaults to its class attribute.

        ``dependencies`` names services that must start before it. Returns
        the service, so ``db = orch.use(DB())`` reads well.
        """
        self._require_created("use()")
        self._registry.use(service, priority, dependencies, start_timeout, stop_timeout)
        service.runtime = self.runtime
        return service

    def configure(self, name: str, **changes: Any) -> None:
        """Override one service's ``priority``, ``start_timeout``,
        ``stop_timeout``, ``enabled`` or add ``dependencies`` (a list)."""
        self._require_created("configure()")
        self._registry.configure(name, changes)

    def add_background_task(
        self,
        fn: Callable[[], Awaitable[Any]],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> None:
        """Run ``fn()`` once startup completes; cancelled before services stop.

        A crash is logged; with ``restart="never"`` it also triggers a
        graceful shutdown with exit status 1. ``"on-failure"`` restarts with
        exponential backoff, ``"ignore"`` only logs.
        """
        if self.state not in (LifecycleState.CREATED, LifecycleState.STARTING):
            self.spawn(fn, name=name, restart=restart)
            return
        self._supervisor.add(fn, name, restart)

    def spawn(
        self,
        fn: Callable[[], Awaitable[Any]] | Awaitable[Any],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> asyncio.Task[Any]:
        """Start a supervised background task now (e.g. from a startup())."""
        if self.state in (LifecycleState.STOPPING, LifecycleState.DESTROYED):
            raise HarakaError(f"cannot spawn a task: the orchestrator is {self.state.name}")
        return self._supervisor.spawn(fn, name, restart)

    def add_shutdown_task(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after the last service stopped."""
        if not callable(fn):
            raise TypeError(f"add_shutdown_task() takes a callable, got {fn!r}")
        self._shutdown_tasks.append(fn)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on every state change; returns an unsubscribe."""
        return self._board.subscribe(listener)

    # -- planning ------------------------------------------------------------

    def graph(self) -> ContainerGraph:
        """The container's services and their derived edges (no planning)."""
        if self.container is None:
            return ContainerGraph()
        return discover(self.container, Runtime)

    def plan(self) -> Plan:
        """Validate and order what is registered now; starts nothing.

        Once ``run()`` has planned, this is the run's plan: registration is
        closed then, and the run pins Factory-built services (re-walking the
        container would no longer see their edges)."""
        if self._plan is not None:
            return self._plan
        return self._collect()[0]

    def _collect(self) -> tuple[Plan, dict[str, Entry], ContainerGraph]:
        graph = self.graph()
        defaults = {"start_timeout": self.start_timeout, "stop_timeout": self.stop_timeout}
        plan, entries = self._registry.collect(graph, defaults)
        return plan, entries, graph

    # -- lifecycle -----------------------------------------------------------

    async def run(self, settings: object = None, app: object = None) -> None:
        """Start every service, dependencies first; return once all started.

        Raises the planning errors before anything starts, and StartupError
        (after stopping whatever had started) if any start fails or a
        signal or shutdown request interrupts startup.
        """
        self._require_created("run()")
        plan, entries, graph = self._collect()
        self._plan, self._board.entries = plan, entries
        self._steps.t0 = time.perf_counter()
        self._board.set_lifecycle(LifecycleState.STARTING)
        if self.handle_signals:
            self._signals.install(self._on_signal)
        failures: dict[str, BaseException] = {}
        try:
            self._assembly.bind_runtime(graph, self.runtime)
            await self._build_abortably(plan)
            if self._abort is None:
                run = self._start_run = self._graph_run(
                    plan, plan.order, plan.dependencies, fail_fast=True
                )
                await run.run(self._steps.start, self._steps.start_timeout_of, self._steps.started)
                self._steps.watch_abandoned(run)
                failures = {
                    n: e.error
                    for n, e in self._board.entries.items()
                    if e.state is ServiceState.FAILED and e.error is not None
                }
        except BuildError as exc:
            failures = {exc.name: exc.__cause__ or exc}
        except BaseException:
            await self._teardown(drain=False)
            raise
        finally:
            self._start_run = None
        if failures or self._abort is not None:
            await self._fail_startup(failures)
        self._board.set_lifecycle(LifecycleState.RUNNING)
        self._supervisor.start()
        self._announce(settings, app)

    async def _build_abortably(self, plan: Plan) -> None:
        """Build in a task that an abort (a signal) cancels: an async provider
        that never returns must not make startup deaf to SIGTERM."""
        build = self._build_task = asyncio.ensure_future(self._build(plan))
        try:
            await build
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._abort is None or (task is not None and task.cancelling()):
                raise  # we were cancelled ourselves, not aborted
        finally:
            self._build_task = None

    async def _build(self, plan: Plan) -> None:
        for name in plan.order:
            entry = self._board.entries[name]
            if entry.spec is not None:
                entry.service = await self._assembly.build(entry.spec, entry.start_timeout)
                entry.service.name = name
                entry.service.runtime = self.runtime
            if self._abort is not None:
                return

    async def _fail_startup(self, failures: dict[str, BaseException]) -> None:
        started = sum(1 for e in self._board.entries.values() if e.state in RUNNING_STATES)
        stop_errors = await self._teardown(drain=False)
        if failures:
            what = "; ".join(describe(name, err) for name, err in failures.items())
            message = f"Startup failed: {what}"
        else:
            message = f"Startup interrupted by {self._abort}"
        message += f". Stopped the {started} service(s) that had started"
        if stop_errors:
            message += " (some stops failed: " + ", ".join(stop_errors) + ")"
        self.exit_code = self.exit_code or 1
        error = StartupError(message + ".", failures, signal=self._abort_signal)
        causes = list(failures.values())
        if len(causes) == 1:
            raise error from causes[0]
        if causes:
            group = BaseExceptionGroup("startup failures", causes)
            raise error from group
        raise error

    async def shutdown(self) -> None:
        """Stop everything in reverse order; idempotent and concurrency-safe.

        Raises ShutdownError (an ExceptionGroup) when stops failed, after
        everything that could be stopped has been stopped.
        """
        if self.state is LifecycleState.CREATED:
            self._board.set_lifecycle(LifecycleState.DESTROYED)
            self._destroyed.set()
            return
        if _TEARDOWN.get() is self:
            return  # from a stop step or shutdown task of this very shutdown
        if self.state is LifecycleState.STARTING:
            self._abort_startup("a shutdown request", None)
        if self._shutdown_task is None:
            if self.state is LifecycleState.RUNNING:
                self._begin_shutdown()
            else:  # a startup is being rolled back
                await self._destroyed.wait()
                return
        task = self._shutdown_task
        if task is None or task.done():
            return
        await asyncio.shield(task)

    def request_shutdown(self, exit_code: int = 0) -> None:
        """Start a graceful shutdown without waiting for it (as a signal would)."""
        if exit_code and not self.exit_code:
            self.exit_code = exit_code
        self._board.request_stop()
        if self.state is LifecycleState.STARTING:
            self._abort_startup("a shutdown request", None)
        elif self.state is LifecycleState.RUNNING and self._shutdown_task is None:
            self._begin_shutdown()

    def _begin_shutdown(self) -> None:
        self._board.request_stop()
        task = asyncio.get_running_loop().create_task(self._shutdown_main(), name="haraka:shutdown")
        task.add_done_callback(_retrieve)
        self._shutdown_task = task

    async def _shutdown_main(self) -> None:
        errors = await self._teardown(drain=True)
        if errors:
            self.exit_code = self.exit_code or 1
            lines = "; ".join(describe(n, e) for n, e in errors.items())
            raise ShutdownError(f"Shutdown finished with failures: {lines}", errors)

    async def _teardown(self, *, drain: bool) -> dict[str, Exception]:
        """Stop what started, in reverse; never raises, returns the failures."""
        token = _TEARDOWN.set(self)
        self._board.set_lifecycle(LifecycleState.STOPPING)
        self._board.request_stop()
        errors: dict[str, Exception] = {}
        try:
            if drain and self.drain_seconds > 0 and not self._force_event.is_set():
                log.info("draining for %.1fs before stopping", self.drain_seconds)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._force_event.wait(), self.drain_seconds)
            await self._supervisor.close(0.0 if self._forced else self.cancel_grace)
            await self._stop_services(errors)
            await self._run_shutdown_tasks(errors)
        finally:
            self._signals.restore()
            self._assembly.undo()
            self._board.set_lifecycle(LifecycleState.DESTROYED)
            self._destroyed.set()
            _TEARDOWN.reset(token)
        return errors

    async def _stop_services(self, errors: dict[str, Exception]) -> None:
        plan = self._plan
        if plan is None:
            return
        entries = self._board.entries
        started = [n for n in reversed(plan.order) if entries[n].state in RUNNING_STATES]
        if not started:
            return
        run = self._stop_run = self._graph_run(plan, started, plan.dependents, fail_fast=False)
        if self._forced:
            run.hurry()
        self._steps.stop_errors = errors
        try:
            await run.run(self._steps.stop, self._steps.stop_timeout_of, self._steps.stopped)
        finally:
            self._stop_run = None

    def _graph_run(
        self, plan: Plan, names: Iterable[str], waits_for: Any, *, fail_fast: bool
    ) -> GraphRun:
        return graph_run(
            plan,
            names,
            waits_for,
            fail_fast=fail_fast,
            max_concurrency=self.max_concurrency,
            cancel_grace=self.cancel_grace,
        )

    async def _run_shutdown_tasks(self, errors: dict[str, Exception]) -> None:
        for fn in self._shutdown_tasks:
            label = getattr(fn, "__qualname__", repr(fn))
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(awaited(result), self.stop_timeout)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # recorded; the next shutdown task still runs
                log.error("shutdown task %s failed: %r", label, exc)
                errors[f"shutdown task {label}"] = as_exception(exc)

    # -- signals ---------------------------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.state is LifecycleState.STARTING and self._abort is None:
            log.warning("received %s during startup: rolling back", sig.name)
            self._abort_startup(sig.name, sig)
        elif self.state is LifecycleState.RUNNING and self._shutdown_task is None:
            # (a shutdown task that has not run its first step yet is already
            # stopping: a second signal in the same loop iteration forces it)
            log.warning("received %s: shutting down gracefully (again to force)", sig.name)
            self.request_shutdown(0)
        elif self._forced is None:
            log.warning("received %s while stopping: forcing the shutdown", sig.name)
            self._force(sig)
        else:
            log.warning("received %s: already forcing the shutdown", sig.name)

    def _force(self, sig: signal.Signals) -> None:
        self._forced = sig
        self._steps.forced = True
        self.exit_code = 128 + int(sig)
        self._force_event.set()
        if self._stop_run is not None:
            self._stop_run.hurry()
        if self._start_run is not None:
            self._start_run.abort()

    def _abort_startup(self, reason: str, sig: signal.Signals | None) -> None:
        if self._abort is not None:
            return
        self._abort = reason
        self._abort_signal = int(sig) if sig is not None else None
        if sig is not None:
            self.exit_code = 128 + int(sig)
        self._board.request_stop()
        if self._build_task is not None:
            self._build_task.cancel()
        if self._start_run is not None:
            self._start_run.abort()

    def _on_fatal_task(self, name: str, error: BaseException) -> None:
        if self.state is LifecycleState.STARTING:
            self._abort_startup(f"the crash of background task {name!r} ({error!r})", None)
        self.request_shutdown(1)

    # -- running until signalled ------------------------------------------------

    async def serve(self, settings: object = None, app: object = None) -> int:
        """Run, wait until a signal or shutdown request, shut down; return the
        exit status: 0 clean, 1 after a crash or failed stops, 128+signum after
        a forced stop. Stop failures are logged rather than raised here."""
        await self.run(settings, app)
        try:
            await self._board.stop_requested.wait()
        finally:
            try:
                await self.shutdown()
            except ShutdownError as exc:  # each failure was logged as it happened
                log.error("%s", exc)
        return self.exit_code

    @asynccontextmanager
    async def running(
        self, settings: object = None, app: object = None
    ) -> AsyncIterator[Orchestrator]:
        """``async with orch.running():`` runs the services for the block."""
        await self.run(settings, app)
        try:
            yield self
        finally:
            await self.shutdown()

    async def wait_for_shutdown(self) -> None:
        """Return once a shutdown was requested (signal, crash, request)."""
        await self._board.stop_requested.wait()

    # -- readiness -------------------------------------------------------------

    def mark_ready(self, name: str) -> None:
        """Declare service ``name`` ready (raises UnknownServiceError)."""
        self._board.mark_ready(name)

    def mark_not_ready(self, name: str) -> None:
        """Revoke the readiness of service ``name``."""
        self._board.mark_not_ready(name)

    def is_ready(self, name: str | None = None) -> bool:
        """Is service ``name`` ready; with no name: is the whole application?"""
        return self._board.is_ready(name)

    async def wait_for_all_ready(self, timeout: float | None = 30.0) -> None:
        """Wait (event-driven) until every service is ready.

        Raises ReadinessTimeoutError naming the services that are not ready
        when ``timeout`` passes, or at once when the orchestrator is stopping.
        """
        await self._board.wait_for_all_ready(timeout)

    # -- introspection -----------------------------------------------------------

    @property
    def services(self) -> dict[str, Service]:
        """The service instances of the current run, by name."""
        return {n: e.service for n, e in self._board.entries.items() if e.service is not None}

    def report(self) -> list[ServiceReport]:
        """Each service's state, readiness, start offset/duration, stop duration,
        and the crashes/restarts of the background tasks it spawned (or that
        carry its name); :meth:`task_report` lists every task."""
        plan, entries = self._plan, self._board.entries
        if plan is None:
            plan, entries, _ = self._collect()
        return self._board.report(plan, entries, self._supervisor.counts())

    def task_report(self) -> list[TaskReport]:
        """Every background task: name, owning service, restart policy,
        state, crashes, restarts and last error, in registration order."""
        return self._supervisor.reports()

    # -- internals -----------------------------------------------------------------

    def _require_created(self, what: str) -> None:
        if self.state is not LifecycleState.CREATED:
            raise HarakaError(
                f"{what} is not allowed: the orchestrator is {self.state.name}. "
                "Register services before run(); an Orchestrator runs once, so "
                "create a new one to run again."
            )

    def _known_names(self) -> list[str]:
        try:
            return list(self.plan().order)
        except HarakaError:
            return list(self._registry.manual)

    def _announce(self, settings: object, app: object) -> None:
        url = announce_docs(app, base_url_of(settings))
        if url is not None:  # keep what a served UvicornService published
            self.docs_url = url

    def __repr__(self) -> str:
        count = len(self._board.entries) or len(self._registry.manual)
        return f"<Orchestrator {self.state.name} services={count}>"


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("shutdown finished with an error: %r", task.exception())
