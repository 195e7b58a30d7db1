"""lifespan(): run a container's services for a FastAPI app that an ASGI
server (``uvicorn main:app``, TestClient) drives.

The server owns the process's signals, so the orchestrator built here never
installs handlers of its own.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from .._graph import is_container
from .._logs import plan_line, server_logging
from .._options import ORCHESTRATOR_OPTIONS, check
from .._orchestrator import Orchestrator
from .._report import timeline
from .._service import LifecycleState
from ._wiring import warn_stray_injections

__all__ = ["lifespan", "runs_under_asgi_server"]

log = logging.getLogger("haraka_di")

_SIGNALS_OWNED = (
    "lifespan() runs under an ASGI server that owns the process's signals: uvicorn "
    "handles SIGINT/SIGTERM and then runs the lifespan shutdown, and a handler installed "
    "here would swallow them so uvicorn never exits. Leave handle_signals out, or serve "
    "the app with UvicornService to let the orchestrator own the signals."
)


def lifespan(
    container: object, **orchestrator_options: Any
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan for ``FastAPI(lifespan=...)`` that runs ``container``'s services.

    On startup it builds an :class:`~haraka_di.Orchestrator` (with
    ``orchestrator_options``, but never with signal handlers: uvicorn owns
    the signals), attaches it and its container to ``app.state``
    (``orchestrator``, ``container``) and starts every service; if that
    fails, the lifespan raises and the app does not serve (uvicorn exits
    non-zero). On shutdown it stops the services in reverse order.

    It logs the plan, each service started and the startup timeline to the
    ``haraka_di`` logger; when the application configured no logging for it,
    these lines go through the ASGI server's (``uvicorn main:app``: uvicorn's
    format, at its ``--log-level``).

    ``container`` is a container class (instantiated per app run) or
    instance. When the app is served by a :class:`UvicornService`, the
    orchestrator running that service already owns the services and this
    lifespan stands down, so one app object works in both modes. The
    other way round, a :class:`UvicornService` in the services this lifespan
    runs stands down: the ASGI server running the lifespan serves the app
    (see :func:`runs_under_asgi_server`).

    Once the services started, a route whose ``@inject``/``Provide[...]``
    wiring (or ``provide()``) resolves from another container than the one
    running - say the module was wired to ``container = Container()`` and
    this was given the class, so it runs a new instance - is logged as a
    WARNING naming the route: those objects were never started.
    """
    if orchestrator_options.get("handle_signals"):
        raise ValueError(_SIGNALS_OWNED)
    check(ORCHESTRATOR_OPTIONS, orchestrator_options, "lifespan()")  # now, not at startup
    options = {**orchestrator_options, "handle_signals": False}
    if not is_container(container):
        raise TypeError(
            f"lifespan() takes a dependency-injector container (class or instance), "
            f"got {container!r}"
        )

    @asynccontextmanager
    async def run_services(app: Any) -> AsyncIterator[None]:
        state = getattr(app, "state", None)
        if state is None:
            raise TypeError(f"lifespan() needs a FastAPI/Starlette app with .state, got {app!r}")
        served_by = getattr(state, "haraka_served_by", None)
        if served_by is not None and served_by.state in _ACTIVE:
            log.debug("lifespan: the app is served by %r, which runs the services", served_by)
            yield
            return
        orchestrator = Orchestrator(container, **options)
        _UNDER_ASGI.add(orchestrator)
        state.orchestrator = orchestrator
        state.container = orchestrator.container
        with server_logging():  # through uvicorn's logging, if the app set up none
            log.info("%s", plan_line(orchestrator.plan(), (r.kind for r in orchestrator.report())))
            await orchestrator.run()
            log.info("startup timeline:\n%s", timeline(orchestrator.report()))
            warn_stray_injections(app, orchestrator.container, "lifespan()", _FIX)
            try:
                yield
            finally:
                await orchestrator.shutdown()

    return run_services


_FIX = (
    "pass lifespan() the container instance the routes are wired to (lifespan(container), "
    "not lifespan(Container)), or wire the running one (a WiringConfiguration on the "
    "container class wires every new instance)"
)

_ACTIVE = frozenset({LifecycleState.STARTING, LifecycleState.RUNNING})

# The orchestrators lifespan() built (weakly: one per app run).
_UNDER_ASGI: weakref.WeakSet[Orchestrator] = weakref.WeakSet()


def runs_under_asgi_server(orchestrator: object) -> bool:
    """Was ``orchestrator`` built by a :func:`lifespan`, so that an ASGI
    server (``uvicorn main:app``, gunicorn's uvicorn worker, TestClient)
    drives it and already serves the app? Then a UvicornService among its
    services must not start a second server."""
    return orchestrator in _UNDER_ASGI
