"""The orchestrator: registration, the lifecycle state machine, readiness."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from ._assembly import Assembly, BuildError
from ._graph import ContainerGraph, ServiceSpec, as_container, discover
from ._plan import Node, Plan, make_plan
from ._report import Event, ServiceReport
from ._runtime import Runtime
from ._scheduler import GraphRun, Outcome
from ._service import LifecycleState, Service, ServiceState
from ._signals import SignalHandlers
from ._tasks import RestartPolicy, Supervisor, TaskReport, current_service
from .exceptions import (
    DuplicateServiceError,
    HarakaError,
    ReadinessTimeoutError,
    ShutdownError,
    StartupError,
    UnknownServiceError,
)

__all__ = ["Orchestrator"]

log = logging.getLogger("haraka_di")

_CONFIGURABLE = frozenset({"priority", "start_timeout", "stop_timeout", "enabled", "dependencies"})
_UNSET: Any = object()
#: The orchestrator whose teardown runs in this context (stop steps and
#: shutdown tasks inherit it), so a shutdown() from inside does not wait on itself.
_TEARDOWN: contextvars.ContextVar[object] = contextvars.ContextVar(
    "haraka_di_teardown", default=None
)


@dataclass(eq=False)
class _Entry:
    """Bookkeeping for one service during a run."""

    name: str
    service: Service | None
    spec: ServiceSpec | None
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
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class _Manual:
    service: Service
    priority: int | None
    dependencies: tuple[str, ...]
    start_timeout: float | None
    stop_timeout: float | None


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
        self.runtime = Runtime(self)
        self.exit_code = 0
        self.docs_url: str | None = None
        self._state = LifecycleState.CREATED
        self._manual: dict[str, _Manual] = {}
        self._config: dict[str, dict[str, Any]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._entries: dict[str, _Entry] = {}
        self._plan: Plan | None = None
        self._ready_count = 0
        self._signals = SignalHandlers()
        self._signal_count = 0
        self._forced: signal.Signals | None = None
        self._abort: str | None = None
        self._abort_signal: int | None = None
        self._start_run: GraphRun | None = None
        self._build_task: asyncio.Future[None] | None = None
        self._stop_run: GraphRun | None = None
        self._assembly = Assembly()
        self._supervisor = Supervisor(self._on_fatal_task)
        self._shutdown_tasks: list[Callable[[], Any]] = []
        self._late_stops: set[asyncio.Task[None]] = set()
        self._shutdown_task: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._all_ready = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._force_event = asyncio.Event()
        self._destroyed = asyncio.Event()

    # -- registration -------------------------------------------------------

    @property
    def state(self) -> LifecycleState:
        return self._state

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
        if not isinstance(service, Service):
            raise TypeError(
                f"use() takes a haraka_di.Service instance, got {service!r}; "
                "subclass Service and implement startup()/shutdown()"
            )
        if isinstance(dependencies, str):
            raise TypeError(
                f"dependencies must be a list of names, got the string {dependencies!r}"
            )
        name = service.name
        if name in self._manual:
            raise DuplicateServiceError(name)
        service.runtime = self.runtime
        self._manual[name] = _Manual(
            service, priority, tuple(dependencies), start_timeout, stop_timeout
        )
        return service

    def configure(self, name: str, **changes: Any) -> None:
        """Override one service's ``priority``, ``start_timeout``,
        ``stop_timeout``, ``enabled`` or add ``dependencies`` (a list)."""
        self._require_created("configure()")
        unknown = set(changes) - _CONFIGURABLE
        if unknown:
            raise TypeError(
                f"configure() got unknown option(s) {sorted(unknown)}; "
                f"known: {sorted(_CONFIGURABLE)}"
            )
        self._config.setdefault(name, {}).update(changes)

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
        if self._state not in (LifecycleState.CREATED, LifecycleState.STARTING):
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
        if self._state in (LifecycleState.STOPPING, LifecycleState.DESTROYED):
            raise HarakaError(f"cannot spawn a task: the orchestrator is {self._state.name}")
        return self._supervisor.spawn(fn, name, restart)

    def add_shutdown_task(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after the last service stopped."""
        if not callable(fn):
            raise TypeError(f"add_shutdown_task() takes a callable, got {fn!r}")
        self._shutdown_tasks.append(fn)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on every state change; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

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

    def _collect(self) -> tuple[Plan, dict[str, _Entry], ContainerGraph]:
        graph = self.graph()
        entries: dict[str, _Entry] = {}
        nodes: list[Node] = []
        disabled: list[str] = []
        specs = {s.name: s for s in graph.services}
        known = [*specs, *self._manual]
        for name in self._config:
            if name not in specs and name not in self._manual:
                raise UnknownServiceError(name, known)
        for spec in graph.services:
            self._add_node(
                spec.name, spec.cls, spec, None, spec.dependencies, entries, nodes, disabled
            )
        for name, manual in self._manual.items():
            if name in entries or name in disabled:
                raise DuplicateServiceError(name)
            self._add_node(
                name, manual.service, None, manual, manual.dependencies, entries, nodes, disabled
            )
        return make_plan(nodes, disabled), entries, graph

    def _add_node(
        self,
        name: str,
        source: Service | type[Service],
        spec: ServiceSpec | None,
        manual: _Manual | None,
        dependencies: tuple[str, ...],
        entries: dict[str, _Entry],
        nodes: list[Node],
        disabled: list[str],
    ) -> None:
        conf = self._config.get(name, {})
        if not conf.get("enabled", True):
            disabled.append(name)
            return
        priority = conf.get("priority", _UNSET)
        if priority is _UNSET:
            priority = (
                manual.priority if manual and manual.priority is not None else source.priority
            )
        entry = _Entry(
            name=name,
            service=manual.service if manual else None,
            spec=spec,
            priority=int(priority),
            start_timeout=self._timeout(conf, "start_timeout", manual, source),
            stop_timeout=self._timeout(conf, "stop_timeout", manual, source),
            ready_on_startup=bool(source.ready_on_startup),
        )
        entries[name] = entry
        extra = tuple(conf.get("dependencies", ()))
        nodes.append(Node(name, entry.priority, dependencies + extra))

    def _timeout(
        self, conf: dict[str, Any], key: str, manual: _Manual | None, source: object
    ) -> float | None:
        if key in conf:
            value: float | None = conf[key]
            return value
        if manual is not None and getattr(manual, key) is not None:
            value = getattr(manual, key)
            return value
        own: float | None = getattr(source, key, None)
        if own is not None:
            return own
        default: float | None = getattr(self, key)
        return default

    # -- lifecycle -----------------------------------------------------------

    async def run(self, settings: object = None, app: object = None) -> None:
        """Start every service, dependencies first; return once all started.

        Raises the planning errors before anything starts, and StartupError
        (after stopping whatever had started) if any start fails or a
        signal or shutdown request interrupts startup.
        """
        self._require_created("run()")
        plan, entries, graph = self._collect()
        self._plan, self._entries = plan, entries
        self._t0 = time.perf_counter()
        self._set_lifecycle(LifecycleState.STARTING)
        if self.handle_signals:
            self._signals.install(self._on_signal)
        failures: dict[str, BaseException] = {}
        try:
            self._assembly.bind_runtime(graph, self.runtime)
            await self._build_abortably(plan)
            if self._abort is None:
                run = self._start_run = self._graph_run(plan, plan.order, plan.dependencies, True)
                await run.run(self._start_step, self._start_timeout_of, self._started)
                self._watch_abandoned(run)
                failures = {
                    n: e.error
                    for n, e in self._entries.items()
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
        self._set_lifecycle(LifecycleState.RUNNING)
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
            entry = self._entries[name]
            if entry.spec is not None:
                entry.service = await self._assembly.build(entry.spec, entry.start_timeout)
                entry.service.name = name
                entry.service.runtime = self.runtime
            if self._abort is not None:
                return

    async def _fail_startup(self, failures: dict[str, BaseException]) -> None:
        started = sum(1 for e in self._entries.values() if e.state in _RUNNING_STATES)
        stop_errors = await self._teardown(drain=False)
        if failures:
            what = "; ".join(_describe(name, err) for name, err in failures.items())
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

    async def _start_step(self, name: str) -> None:
        entry = self._entries[name]
        entry.start_offset = time.perf_counter() - self._t0
        self._set_state(entry, ServiceState.STARTING)
        log.debug("starting %s", name)
        service = entry.service
        assert service is not None  # built before any start
        current_service.set(name)  # tasks it spawns are counted as its own
        await service.startup()

    def _started(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        entry = self._entries[name]
        if entry.start_offset is not None:
            entry.start_duration = time.perf_counter() - self._t0 - entry.start_offset
        if outcome is Outcome.DONE:
            if entry.ready_on_startup:
                entry.declared_ready = True
            ready = entry.declared_ready
            log.info("started %s in %.1f ms", name, (entry.start_duration or 0) * 1000)
            self._set_state(entry, ServiceState.READY if ready else ServiceState.STARTED)
            return
        if outcome is Outcome.CANCELLED:
            log.info("start of %s cancelled", name)
            self._set_state(entry, ServiceState.STOPPED)
            return
        if outcome is Outcome.TIMED_OUT or outcome is Outcome.ABANDONED:
            error = TimeoutError(
                f"service {name!r} did not start within {entry.start_timeout}s"
                + (" and ignored its cancellation" if outcome is Outcome.ABANDONED else "")
            )
        entry.error = error
        log.error("service %s failed to start: %r", name, error)
        self._set_state(entry, ServiceState.FAILED, error)

    def _watch_abandoned(self, run: GraphRun) -> None:
        """A start abandoned for ignoring its cancellation may still return
        later: that service is then running, so it is stopped as soon as it
        does (it counted as failed; nothing else would stop it)."""
        for task in run.abandoned:
            name = task.get_name().removeprefix("haraka:")
            if name in self._entries:
                task.add_done_callback(functools.partial(self._late_start, name))

    def _late_start(self, name: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        log.warning("service %s finished starting after it was abandoned: stopping it", name)
        late = asyncio.get_running_loop().create_task(
            self._late_stop(self._entries[name]), name=f"haraka:late-stop:{name}"
        )
        self._late_stops.add(late)
        late.add_done_callback(self._late_stops.discard)

    async def _late_stop(self, entry: _Entry) -> None:
        assert entry.service is not None
        try:
            await asyncio.wait_for(_awaited(entry.service.shutdown()), entry.stop_timeout)
        except BaseException as exc:  # nobody awaits this task: log, never raise
            log.error("late stop of service %s failed: %r", entry.name, exc)
        else:
            log.info("stopped %s (late)", entry.name)

    def _start_timeout_of(self, name: str) -> float | None:
        return self._entries[name].start_timeout

    def _stop_timeout_of(self, name: str) -> float | None:
        return self._entries[name].stop_timeout

    def _graph_run(
        self, plan: Plan, names: Iterable[str], waits_for: Any, fail_fast: bool
    ) -> GraphRun:
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
            max_concurrency=self.max_concurrency,
            fail_fast=fail_fast,
            cancel_grace=self.cancel_grace,
        )

    async def shutdown(self) -> None:
        """Stop everything in reverse order; idempotent and concurrency-safe.

        Raises ShutdownError (an ExceptionGroup) when stops failed, after
        everything that could be stopped has been stopped.
        """
        if self._state is LifecycleState.CREATED:
            self._set_lifecycle(LifecycleState.DESTROYED)
            self._destroyed.set()
            return
        if _TEARDOWN.get() is self:
            return  # from a stop step or shutdown task of this very shutdown
        if self._state is LifecycleState.STARTING:
            self._abort_startup("a shutdown request", None)
        if self._shutdown_task is None:
            if self._state is LifecycleState.RUNNING:
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
        self._stop_requested.set()
        if self._state is LifecycleState.STARTING:
            self._abort_startup("a shutdown request", None)
        elif self._state is LifecycleState.RUNNING and self._shutdown_task is None:
            self._begin_shutdown()

    def _begin_shutdown(self) -> None:
        self._stop_requested.set()
        self._sync_ready()  # not ready from the request on, not from the first stop
        task = asyncio.get_running_loop().create_task(self._shutdown_main(), name="haraka:shutdown")
        task.add_done_callback(_retrieve)
        self._shutdown_task = task

    async def _shutdown_main(self) -> None:
        errors = await self._teardown(drain=True)
        if errors:
            self.exit_code = self.exit_code or 1
            lines = "; ".join(_describe(n, e) for n, e in errors.items())
            raise ShutdownError(f"Shutdown finished with failures: {lines}", errors)

    async def _teardown(self, *, drain: bool) -> dict[str, Exception]:
        """Stop what started, in reverse; never raises, returns the failures."""
        token = _TEARDOWN.set(self)
        self._set_lifecycle(LifecycleState.STOPPING)
        self._stop_requested.set()
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
            self._set_lifecycle(LifecycleState.DESTROYED)
            self._destroyed.set()
            _TEARDOWN.reset(token)
        return errors

    async def _stop_services(self, errors: dict[str, Exception]) -> None:
        plan = self._plan
        if plan is None:
            return
        started = [n for n in reversed(plan.order) if self._entries[n].state in _RUNNING_STATES]
        if not started:
            return
        run = self._stop_run = self._graph_run(plan, started, plan.dependents, False)
        if self._forced:
            run.hurry()

        def stopped(name: str, outcome: Outcome, error: BaseException | None) -> None:
            entry = self._entries[name]
            entry.stop_duration = time.perf_counter() - entry.extra.pop("stop_t0", 0.0)
            if outcome is Outcome.DONE:
                log.info("stopped %s", name)
                self._set_state(entry, ServiceState.STOPPED)
                return
            if error is None:
                why = "a forced shutdown" if self._forced else f"its {entry.stop_timeout}s timeout"
                error = TimeoutError(f"stop of service {name!r} was cut short by {why}")
            errors[name] = _as_exception(error)
            entry.error = error
            log.error("service %s failed to stop: %r", name, error)
            self._set_state(entry, ServiceState.FAILED, error)

        try:
            await run.run(self._stop_step, self._stop_timeout_of, stopped)
        finally:
            self._stop_run = None

    async def _stop_step(self, name: str) -> None:
        entry = self._entries[name]
        entry.extra["stop_t0"] = time.perf_counter()
        self._set_state(entry, ServiceState.STOPPING)
        log.debug("stopping %s", name)
        assert entry.service is not None
        await entry.service.shutdown()

    async def _run_shutdown_tasks(self, errors: dict[str, Exception]) -> None:
        for fn in self._shutdown_tasks:
            label = getattr(fn, "__qualname__", repr(fn))
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(_awaited(result), self.stop_timeout)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # recorded; the next shutdown task still runs
                log.error("shutdown task %s failed: %r", label, exc)
                errors[f"shutdown task {label}"] = _as_exception(exc)

    # -- signals ---------------------------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signal_count += 1
        if self._state is LifecycleState.STARTING and self._abort is None:
            log.warning("received %s during startup: rolling back", sig.name)
            self._abort_startup(sig.name, sig)
        elif self._state is LifecycleState.RUNNING and self._shutdown_task is None:
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
        self._stop_requested.set()
        if self._build_task is not None:
            self._build_task.cancel()
        if self._start_run is not None:
            self._start_run.abort()

    def _on_fatal_task(self, name: str, error: BaseException) -> None:
        if self._state is LifecycleState.STARTING:
            self._abort_startup(f"the crash of background task {name!r} ({error!r})", None)
        self.request_shutdown(1)

    # -- running until signalled ------------------------------------------------

    async def serve(self, settings: object = None, app: object = None) -> int:
        """Run, wait until a signal or shutdown request, shut down; return the
        exit status: 0 clean, 1 after a crash or failed stops, 128+signum after
        a forced stop. Stop failures are logged rather than raised here."""
        await self.run(settings, app)
        try:
            await self._stop_requested.wait()
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
        await self._stop_requested.wait()

    # -- readiness -------------------------------------------------------------

    def mark_ready(self, name: str) -> None:
        entry = self._entry(name)
        entry.declared_ready = True
        if entry.state is ServiceState.STARTED:
            self._set_state(entry, ServiceState.READY)
        elif entry.state is ServiceState.STARTING:
            self._emit(Event(name, entry.state, True, self._state))

    def mark_not_ready(self, name: str) -> None:
        entry = self._entry(name)
        entry.declared_ready = False
        if entry.state is ServiceState.READY:
            self._set_state(entry, ServiceState.STARTED)

    def is_ready(self, name: str | None = None) -> bool:
        if name is not None:
            return self._entry(name).state is ServiceState.READY
        return (
            self._state is LifecycleState.RUNNING
            and not self._stop_requested.is_set()
            and self._ready_count == len(self._entries)
        )

    async def wait_for_all_ready(self, timeout: float | None = 30.0) -> None:
        """Wait (event-driven) until every service is ready.

        Raises ReadinessTimeoutError naming the services that are not ready
        when ``timeout`` passes, or at once when the orchestrator is stopping.
        """
        waits = [asyncio.ensure_future(self._all_ready.wait())]
        waits.append(asyncio.ensure_future(self._stop_requested.wait()))
        try:
            if not self.is_ready() and self._state is not LifecycleState.DESTROYED:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if not self.is_ready():
            missing = [n for n, e in self._entries.items() if e.state is not ServiceState.READY]
            if not self._entries:  # before run(): every registered service
                missing = self._known_names()
            named = ", ".join(missing) or "none"
            state = self._state.name
            why = f"within {timeout}s" if state in ("CREATED", "STARTING", "RUNNING") else "now"
            raise ReadinessTimeoutError(
                f"Services not ready {why}: {named} (orchestrator is {state})", missing, self._state
            )

    # -- introspection -----------------------------------------------------------

    @property
    def services(self) -> dict[str, Service]:
        """The service instances of the current run, by name."""
        return {n: e.service for n, e in self._entries.items() if e.service is not None}

    def report(self) -> list[ServiceReport]:
        """Each service's state, readiness, start offset/duration, stop duration,
        and the crashes/restarts of the background tasks it spawned (or that
        carry its name); :meth:`task_report` lists every task."""
        plan, entries = self._plan, self._entries
        if plan is None:
            plan, entries, _ = self._collect()
        counts = self._supervisor.counts()
        return [
            ServiceReport(
                name=n,
                state=entries[n].state,
                ready=entries[n].state is ServiceState.READY,
                priority=plan.priority[n],
                effective_priority=plan.effective_priority[n],
                wave=plan.wave[n],
                dependencies=plan.dependencies[n],
                start_offset=entries[n].start_offset,
                start_duration=entries[n].start_duration,
                stop_duration=entries[n].stop_duration,
                error=repr(entries[n].error) if entries[n].error is not None else None,
                crashes=counts.get(n, (0, 0))[0],
                restarts=counts.get(n, (0, 0))[1],
            )
            for n in plan.order
        ]

    def task_report(self) -> list[TaskReport]:
        """Every background task: name, owning service, restart policy,
        state, crashes, restarts and last error, in registration order."""
        return self._supervisor.reports()

    # -- internals -----------------------------------------------------------------

    def _require_created(self, what: str) -> None:
        if self._state is not LifecycleState.CREATED:
            raise HarakaError(
                f"{what} is not allowed: the orchestrator is {self._state.name}. "
                "Register services before run(); an Orchestrator runs once, so "
                "create a new one to run again."
            )

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            known = self._entries.keys() if self._entries else self._known_names()
            raise UnknownServiceError(name, known)
        return entry

    def _known_names(self) -> list[str]:
        try:
            return list(self.plan().order)
        except HarakaError:
            return list(self._manual)

    def _set_state(
        self, entry: _Entry, state: ServiceState, error: BaseException | None = None
    ) -> None:
        was_ready = entry.state is ServiceState.READY
        entry.state = state
        now_ready = state is ServiceState.READY
        if was_ready != now_ready:
            self._ready_count += 1 if now_ready else -1
            self._sync_ready()
        if self._listeners:  # build the event only for someone: this runs 4x per service
            self._emit(Event(entry.name, state, now_ready, self._state, error))

    def _set_lifecycle(self, state: LifecycleState) -> None:
        self._state = state
        log.debug("orchestrator %s", state.name)
        self._sync_ready()
        self._emit(Event(None, None, self.is_ready(), state))

    def _sync_ready(self) -> None:
        if self.is_ready():
            self._all_ready.set()
        else:
            self._all_ready.clear()

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)

    def _announce(self, settings: object, app: object) -> None:
        docs = getattr(app, "docs_url", None)
        if app is None or not docs:
            return
        host = getattr(settings, "host", None) or "127.0.0.1"
        port = getattr(settings, "port", None) or 8000
        self.docs_url = f"http://{host}:{port}{docs}"
        log.info("API docs at %s", self.docs_url)

    def __repr__(self) -> str:
        return (
            f"<Orchestrator {self._state.name} services={len(self._entries) or len(self._manual)}>"
        )


_RUNNING_STATES = frozenset({ServiceState.STARTED, ServiceState.READY})


def _as_exception(error: BaseException) -> Exception:
    if isinstance(error, Exception):
        return error
    wrapped = RuntimeError(f"{type(error).__name__} raised: {error!r}")
    wrapped.__cause__ = error
    return wrapped


def _describe(name: str, error: BaseException) -> str:
    return f"{name!r}: {type(error).__name__}: {error}"


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except (KeyboardInterrupt, SystemExit) as exc:
        # Raised out of a task, these would tear through the event loop.
        raise _as_exception(exc) from exc


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("shutdown finished with an error: %r", task.exception())
