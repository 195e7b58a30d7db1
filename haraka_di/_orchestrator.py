"""The Orchestrator: the public facade over registration, the lifecycle, the
serve layer and the run records. It decides nothing itself; each method
hands over to the part that owns the concern (see docs/architecture.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, ExitStack
from typing import Any

from ._assembly import Assembly
from ._docs import announce_docs, base_url_of
from ._graph import ContainerGraph, as_container, discover
from ._lifecycle import Lifecycle, Phase, RunOptions
from ._options import ORCHESTRATOR_OPTIONS, check
from ._plan import Plan
from ._record import Board, Record
from ._registry import Registry
from ._report import Event, ServiceReport
from ._runtime import Readiness, Runtime
from ._serve import ExitStatus, Serve
from ._service import LifecycleState, Service
from ._tasks import RestartPolicy, Supervisor, TaskReport
from ._units import unit_maker
from .exceptions import HarakaError, LifecycleError

__all__ = ["Orchestrator"]


class Orchestrator(Readiness):
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
        options = {
            "max_concurrency": max_concurrency,
            "start_timeout": start_timeout,
            "stop_timeout": stop_timeout,
            "drain_seconds": drain_seconds,
            "handle_signals": handle_signals,
            "cancel_grace": cancel_grace,
        }
        check(ORCHESTRATOR_OPTIONS, options, "Orchestrator()")
        self.container = as_container(container) if container is not None else None
        self.max_concurrency, self.start_timeout = max_concurrency, start_timeout
        self.stop_timeout, self.drain_seconds = stop_timeout, drain_seconds
        self.handle_signals, self.cancel_grace = handle_signals, cancel_grace
        self.docs_url: str | None = None
        self._registry = Registry()
        self._board = Board(self._known_names)
        self.runtime = Runtime(self, self._board)
        self._exit = ExitStatus()
        self._cleanup = ExitStack()
        self._assembly = Assembly()
        self._cleanup.callback(self._assembly.undo)
        run_options = RunOptions(max_concurrency, stop_timeout, drain_seconds, cancel_grace)
        self._supervisor = Supervisor(lambda name, error: self._serve.on_fatal_task(name, error))
        self._lifecycle = Lifecycle(
            self._board, self._supervisor, run_options, self._cleanup, self._exit.failed
        )
        self._serve = Serve(self._lifecycle, self._exit)
        self._make_unit = unit_maker(self.runtime, self._assembly)
        self._plan: Plan | None = None

    @property
    def state(self) -> LifecycleState:
        """The lifecycle state: CREATED, STARTING, RUNNING, STOPPING, DESTROYED."""
        return self._lifecycle.state

    @property
    def exit_code(self) -> int:
        """The exit status the run so far calls for (see ``serve()``)."""
        return self._exit.code

    def use(
        self,
        service: Service,
        priority: int | None = None,
        dependencies: Iterable[str] = (),
        *,
        start_timeout: float | None = None,
        stop_timeout: float | None = None,
    ) -> Service:
        """Register ``service`` (``priority`` None: its class attribute) to
        start after the services named in ``dependencies``; returns it."""
        self._require_created("use()")
        self._registry.use(service, priority, dependencies, start_timeout, stop_timeout)
        service.runtime = self.runtime
        return service

    def configure(self, name: str, **changes: Any) -> None:
        """Override one node's ``priority``, ``start_timeout``, ``stop_timeout``,
        ``enabled``, or add ``dependencies`` (a list)."""
        self._require_created("configure()")
        self._registry.configure(name, changes)

    def add_background_task(
        self,
        fn: Callable[[], Awaitable[Any]],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> None:
        """Run ``fn()`` once startup completes, supervised by ``restart``
        (see ``_tasks``); cancelled before services stop."""
        if self.state in (LifecycleState.CREATED, LifecycleState.STARTING):
            self._supervisor.add(fn, name, restart)
        else:
            self.spawn(fn, name=name, restart=restart)

    def spawn(
        self,
        fn: Callable[[], Awaitable[Any]] | Awaitable[Any],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> asyncio.Task[Any]:
        """Start a supervised background task now (e.g. from a startup())."""
        if self.state in (LifecycleState.STOPPING, LifecycleState.DESTROYED):
            raise LifecycleError(f"cannot spawn a task: the orchestrator is {self.state.name}")
        return self._supervisor.spawn(fn, name, restart)

    def add_shutdown_task(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after the last service stopped, within
        the stop timeout; a second signal cuts it short."""
        if not callable(fn):
            raise TypeError(f"add_shutdown_task() takes a callable, got {fn!r}")
        self._lifecycle.shutdown_tasks.append(fn)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on every state change; returns an unsubscribe."""
        return self._board.subscribe(listener)

    def graph(self) -> ContainerGraph:
        """The container's nodes and their derived edges (no planning)."""
        return ContainerGraph() if self.container is None else discover(self.container, Runtime)

    def plan(self) -> Plan:
        """Validate and order what is registered now; starts nothing. Once
        ``run()`` has planned, this is the run's plan."""
        return self._plan if self._plan is not None else self._collect()[0]

    def _collect(self) -> tuple[Plan, dict[str, Record], ContainerGraph]:
        graph = self.graph()
        defaults = {"start_timeout": self.start_timeout, "stop_timeout": self.stop_timeout}
        plan, records = self._registry.collect(graph, defaults, self._make_unit)
        return plan, records, graph

    async def run(self, settings: object = None, app: object = None) -> None:
        """Start every node, dependencies first; return once all started.
        Raises the planning errors before anything starts; StartupError after
        stopping what started if a start fails or something interrupts it."""
        self._require_created("run()")
        plan, records, graph = self._collect()
        self._plan = plan
        if self.handle_signals:
            self._serve.capture(self._cleanup)
        self._assembly.bind_runtime(graph, self.runtime)
        await self._lifecycle.start(plan, records)
        url = announce_docs(app, base_url_of(settings))
        if url is not None:  # (never erase what a server published)
            self.docs_url = url

    async def shutdown(self) -> None:
        """Stop everything in reverse order; idempotent and concurrency-safe.
        Raises ShutdownError once everything that could stop has stopped."""
        lifecycle = self._lifecycle
        if lifecycle.phase is Phase.CREATED:
            lifecycle.destroy()
        elif not lifecycle.interrupt("a shutdown request"):
            lifecycle.begin_stop()
        await lifecycle.wait_destroyed()

    def request_shutdown(self, exit_code: int = 0) -> None:
        """Start a graceful shutdown without waiting for it (as a signal would)."""
        self._serve.request_shutdown(exit_code)

    async def serve(self, settings: object = None, app: object = None) -> int:
        """Run until a signal or shutdown request, shut down, and return the
        exit status (see ``_serve.ExitStatus``); stop failures are logged."""
        return await self._serve.serve(self, settings, app)

    def running(
        self, settings: object = None, app: object = None
    ) -> AbstractAsyncContextManager[Orchestrator]:
        """``async with orch.running():`` runs the services for the block."""
        return self._serve.running(self, settings, app)

    async def wait_for_shutdown(self) -> None:
        """Return once a shutdown was requested (signal, crash, request)."""
        await self._board.stop_requested.wait()

    async def wait_for_all_ready(self, timeout: float | None = 30.0) -> None:
        """Wait (event-driven) until every service is ready; else raise
        ReadinessTimeoutError naming the others (at once when stopping)."""
        await self._board.wait_for_all_ready(timeout)

    @property
    def services(self) -> dict[str, Service]:
        """The service instances of the current run, by name."""
        found = {n: getattr(r.unit, "service", None) for n, r in self._board.records.items()}
        return {n: s for n, s in found.items() if isinstance(s, Service)}

    def report(self) -> list[ServiceReport]:
        """Each node's run record, with its background tasks' crashes and restarts."""
        plan, records = self._plan, self._board.records
        if plan is None:
            plan, records, _ = self._collect()
        return self._board.report(plan, records, self._supervisor.counts())

    def task_report(self) -> list[TaskReport]:
        """Every background task, in registration order."""
        return self._supervisor.reports()

    def _require_created(self, what: str) -> None:
        if self.state is not LifecycleState.CREATED:
            raise LifecycleError(
                f"{what} is not allowed: the orchestrator is {self.state.name}. "
                "Register services before run(); an Orchestrator runs once, so "
                "create a new one to run again."
            )

    def _known_names(self) -> list[str]:
        try:
            return list(self.plan().order)
        except HarakaError:
            return list(self._registry.manual)

    def __repr__(self) -> str:
        count = len(self._board.records) or len(self._registry.manual)
        return f"<Orchestrator {self.state.name} services={count}>"
