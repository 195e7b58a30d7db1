"""UvicornService: serve an ASGI app with uvicorn as one of the orchestrator's
services, so the orchestrator (not uvicorn) owns the process and its signals.

Re-exported by :mod:`haraka_di.fastapi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import uvicorn

from .._docs import announce_docs
from .._logs import owns_logging
from .._service import LAST, LifecycleState, Service
from ..exceptions import ServeError
from ._cutoff import Cutoff
from ._lifespan import runs_under_asgi_server
from ._wiring import warn_stray_injections

if TYPE_CHECKING:
    from .._runtime import Runtime

__all__ = ["LAST", "UvicornService"]

log = logging.getLogger("haraka_di")

# Seconds a forced stop waits for uvicorn to wind down by itself, then with
# force_exit; within the orchestrator's default cancel_grace (1 s).
_FORCE_STEPS = (0.5, 0.25)
_FIX = "run the container the routes are wired to, or wire the running one (container.wire())"
_RESERVED = frozenset({"app", "host", "port"})
_CONFIG_OPTIONS = frozenset(inspect.signature(uvicorn.Config).parameters) - _RESERVED


class _Config(uvicorn.Config):
    """uvicorn's configuration, with the loaded app behind a :class:`Cutoff`
    (so a forced stop can end the requests in flight cleanly)."""

    cutoff: Cutoff | None = None

    def load(self) -> None:
        super().load()
        self.cutoff = self.loaded_app = Cutoff(self.loaded_app)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the process's signals alone, says (with
    an event, not a flag to poll) when it is listening, and stops at once
    when asked with :meth:`request_exit`."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        self._exit_requested = asyncio.Event()

    def request_exit(self) -> None:
        """Ask uvicorn to exit, as its own signal handler would (``should_exit``):
        stop accepting, finish in-flight requests, run the lifespan shutdown."""
        self.should_exit = True
        self._exit_requested.set()

    async def main_loop(self) -> None:
        # uvicorn's main loop sleeps 0.1 s between ticks (the Date header,
        # limit_max_requests, should_exit). It runs unchanged; a request_exit()
        # only cuts its current sleep short, and uvicorn then shuts down as
        # after any tick that saw should_exit.
        ticking = asyncio.ensure_future(super().main_loop())
        asked = asyncio.ensure_future(self._exit_requested.wait())
        try:
            await asyncio.wait({ticking, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not ticking.done():
                ticking.cancel()
                await asyncio.wait({ticking})
        if not ticking.cancelled():
            ticking.result()  # its own end (limit_max_requests), or its error

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn >= 0.29 swaps SIGINT/SIGTERM for its own handlers here and
        # re-raises the captured signals on exit. The orchestrator owns the
        # signals in this mode: doing either would steal or double them.
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.listening.set()


class _LastError(logging.Handler):
    """Remembers the last error uvicorn logged (it logs, then exits), so the
    startup error can say what went wrong: "address already in use"..."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage().strip().splitlines()[-1][:300]


class UvicornService(Service):
    """Serves ``app`` with uvicorn for as long as the orchestrator runs.

    ``app`` is an ASGI app (or an import string); when it is built by a
    provider, the orchestrator orders the server after whatever the app is
    built from. ``uvicorn_options`` go to :class:`uvicorn.Config` unchanged
    (``log_level``, ``proxy_headers``, ``timeout_keep_alive``...).

    - It starts after every other service and stops before all of them
      (``priority`` is :data:`LAST`), while still honouring real dependencies.
    - ``startup()`` returns once the socket listens; then the docs URL is
      announced. ``port=0`` binds a free port; ``port`` and ``url`` then tell
      which one.
    - ``shutdown()`` makes uvicorn stop accepting, finish in-flight requests
      and run the app's lifespan shutdown. If the orchestrator cuts the stop
      short (its ``stop_timeout``, or a second signal), it stops now: the
      listener is closed and in-flight requests are cut short cleanly (a
      503, or their connection closed if the response had started; no
      traceback: see :mod:`~haraka_di.fastapi._cutoff`).
    - Under ``haraka run`` (haraka's log format on the root logger), uvicorn
      installs no log format of its own (``log_config=None``): its loggers
      (``uvicorn.error``, and ``uvicorn.access`` unless ``access_log=False``)
      propagate to haraka's, so the console shows one format. A
      ``log_config`` given here wins; elsewhere uvicorn's default applies.
    - uvicorn installs no signal handlers: the orchestrator owns SIGINT and
      SIGTERM, so SIGTERM drops readiness, waits ``drain_seconds``, then stops
      this server, then the other services in reverse order.
    - Among the services a FastAPI :func:`~haraka_di.fastapi.lifespan` runs,
      it stands down: an ASGI server is already serving, so it starts no
      second server (logs one INFO line saying so) and counts as started and
      ready, so that the other services run.
    """

    name = "uvicorn"
    priority: ClassVar[int] = LAST

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 8000,
        **uvicorn_options: Any,
    ) -> None:
        runtime: Runtime | None = uvicorn_options.pop("runtime", None)
        super().__init__(runtime)
        unknown = sorted(set(uvicorn_options) - _CONFIG_OPTIONS)
        if unknown:
            raise TypeError(
                f"UvicornService() got unknown uvicorn option(s) {unknown}; "
                "the options are those of uvicorn.Config"
            )
        if app is None:
            raise TypeError("UvicornService() needs an ASGI app (or an import string), got None")
        if not isinstance(host, str) or not host:
            raise TypeError(f"host must be a non-empty string, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
        self.app = app
        self.host = host
        self.port = port
        self.uvicorn_options = uvicorn_options
        self.server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8000`` (the bound port once listening)."""
        scheme = "https" if self.uvicorn_options.get("ssl_certfile") else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------

    async def startup(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self!r} was already started; build a new one to serve again")
        runtime = self._runtime()
        if runtime is not None and runs_under_asgi_server(runtime.orchestrator):
            self._stand_down(runtime)
            return
        self._attach(runtime)
        if runtime is not None and not isinstance(self.app, str):
            warn_stray_injections(self.app, runtime.container, "the orchestrator", _FIX)
        options = dict(self.uvicorn_options)
        if "log_config" not in options and owns_logging():
            options["log_config"] = None  # uvicorn's loggers propagate to haraka's format
        config = _Config(self.app, host=self.host, port=self.port, **options)
        server = self.server = _Server(config)
        task = self._task = asyncio.get_running_loop().create_task(
            self._serve(server), name=f"haraka:{self.name}:serve"
        )
        task.add_done_callback(self._served)
        if runtime is not None:
            runtime.add_shutdown_task(self._reap)
        listening = asyncio.ensure_future(server.listening.wait())
        last_error = _LastError()
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.addHandler(last_error)
        try:
            await asyncio.wait({listening, task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._stop_now("its start was cancelled")
            raise
        finally:
            listening.cancel()
            uvicorn_log.removeHandler(last_error)
        if not server.listening.is_set():
            error = None if task.cancelled() else task.exception()
            detail = last_error.message or error or "it stopped before listening"
            raise ServeError(f"uvicorn did not start serving {self.url}: {detail}") from error
        self.port = _bound_port(server, self.port)
        docs_url = announce_docs(self.app, self.url)
        if runtime is not None and docs_url is not None:
            runtime.publish_docs_url(docs_url)

    async def shutdown(self) -> None:
        server, task = self.server, self._task
        if server is None or task is None or task.done():
            return
        self._stopping = True
        server.request_exit()  # stop accepting, finish in-flight requests
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await self._stop_now("the orchestrator cut its stop short")
            raise

    # -- internals -----------------------------------------------------------

    async def _serve(self, server: uvicorn.Server) -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits on a bind or lifespan failure
            raise ServeError(
                f"uvicorn exited with status {exc.code}; see the uvicorn.error log"
            ) from None

    def _served(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if self._stopping or self.server is None or not self.server.started:
            return  # an expected end, or a failed start that startup() reports
        runtime = self._runtime()
        log.error("uvicorn stopped serving %s on its own: %r", self.url, error)
        if runtime is not None and runtime.state is LifecycleState.RUNNING:
            runtime.request_shutdown(1)

    async def _stop_now(self, why: str) -> None:
        """Stop now: close the listener and cut the in-flight requests short
        (each is answered 503, or closed if its response had started: see
        ``_cutoff``), then give uvicorn a moment to close connections and end
        the app's lifespan; past that, force_exit, and finally cancel it."""
        server, task = self.server, self._task
        if server is None or task is None or task.done():
            return
        self._stopping = True
        server.request_exit()
        for listener in getattr(server, "servers", ()):
            listener.close()
        cutoff = server.config.cutoff if isinstance(server.config, _Config) else None
        cut = cutoff.cut() if cutoff is not None else 0
        tracked = cutoff.tasks if cutoff is not None else set()
        for request in list(server.server_state.tasks - tracked):
            request.cancel()  # not through the app (uvicorn's own): cancelled outright
        log.warning("stopping uvicorn now: %s; %d request(s) in flight cut short", why, cut)
        await asyncio.wait({task}, timeout=_FORCE_STEPS[0])
        if not task.done():
            server.force_exit = True
            await asyncio.wait({task}, timeout=_FORCE_STEPS[1])
        if not task.done():
            task.cancel()

    async def _reap(self) -> None:
        # Safety net, run after the last service stopped: nothing may keep
        # listening once the orchestrator is done.
        await self._stop_now("it was still running after shutdown")

    def _runtime(self) -> Runtime | None:
        """The runtime handle, None when no orchestrator runs this service."""
        return getattr(self, "runtime", None)

    def _attach(self, runtime: Runtime | None) -> None:
        """Give the app's routes the orchestrator and container (health
        endpoints, ``provide()``), and tell a haraka lifespan to stand down
        (``app.state.haraka_served_by``: the runtime, whose ``state`` it reads)."""
        state = getattr(self.app, "state", None)
        if state is None or runtime is None:
            return
        state.orchestrator = runtime.orchestrator
        state.haraka_served_by = runtime
        if runtime.container is not None:
            state.container = runtime.container

    def _stand_down(self, runtime: Runtime) -> None:
        state = getattr(self.app, "state", None)
        if state is not None:  # provide() and the probes work on this app too
            state.orchestrator = runtime.orchestrator
            if runtime.container is not None:
                state.container = runtime.container
        log.info(
            "%r stands down, no second server is started: its services run under "
            "lifespan(), and the ASGI server running that lifespan (uvicorn main:app, "
            "TestClient) serves the app. To serve with UvicornService instead, run the "
            "container with 'haraka run' or Orchestrator.serve().",
            self,
        )

    def __repr__(self) -> str:
        return f"<UvicornService {self.name!r} {self.url}>"


def _bound_port(server: uvicorn.Server, port: int) -> int:
    for listener in getattr(server, "servers", ()):
        for sock in listener.sockets:
            address = sock.getsockname()
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
    return port
