"""FastAPI and uvicorn integration (``pip install haraka_di[fastapi]``).

Two ways to run an app's services:

- **Lifespan mode**: ``FastAPI(lifespan=lifespan(Container))`` and run it with
  ``uvicorn`` as usual. uvicorn owns the process's signals; the orchestrator
  installs none and stops the services when uvicorn runs the lifespan shutdown.
- **Managed serving**: put ``UvicornService(app)`` among the services and run
  the orchestrator (``await orchestrator.serve()`` or ``haraka run``). The
  orchestrator owns the signals: SIGTERM drops readiness, waits
  ``drain_seconds``, stops uvicorn (in-flight requests finish), then stops the
  other services in reverse order.

Either way ``app.state.orchestrator`` and ``app.state.container`` are set,
:func:`provide` resolves providers of that running container, and
:func:`health_router` serves the probes.

This module imports FastAPI, Starlette and uvicorn; ``import haraka_di`` never
imports it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from dependency_injector import providers
from starlette.requests import Request

from ._graph import container_name, is_container
from ._health import ReadinessGate, health_router, install_readiness_gate
from ._orchestrator import Orchestrator
from ._service import LifecycleState
from ._uvicorn import LAST, UvicornService
from .exceptions import HarakaError

__all__ = [
    "LAST",
    "ReadinessGate",
    "UvicornService",
    "health_router",
    "install_readiness_gate",
    "lifespan",
    "provide",
]

log = logging.getLogger("haraka_di")

T = TypeVar("T")

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

    ``container`` is a container class (instantiated per app run) or
    instance. When the app is served by a :class:`UvicornService`, the
    orchestrator running that service already owns the services and this
    lifespan stands down, so one app object works in both modes.
    """
    if orchestrator_options.get("handle_signals"):
        raise ValueError(_SIGNALS_OWNED)
    options = {**orchestrator_options, "handle_signals": False}
    Orchestrator(None, **options)  # validate the options now, not at startup
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
        state.orchestrator = orchestrator
        state.container = orchestrator.container
        await orchestrator.run()
        try:
            yield
        finally:
            await orchestrator.shutdown()

    return run_services


_ACTIVE = frozenset({LifecycleState.STARTING, LifecycleState.RUNNING})


def provide(provider: providers.Provider[T]) -> Callable[[Request], Awaitable[T]]:
    """A wiring-free FastAPI dependency: ``Depends(provide(Container.db))``.

    At request time it resolves ``provider`` in the container attached to the
    app (``app.state.container``), so the route gets the running container's
    object, overrides included. A provider of the container *class* is mapped
    to the running instance's provider by its place in the container
    (``Container.infra.db`` -> ``container.infra.db``); a provider of the
    running instance is used as is.
    """
    if not isinstance(provider, providers.Provider):
        raise TypeError(
            f"provide() takes a dependency-injector provider, e.g. provide(Container.db); "
            f"got {provider!r}"
        )
    cache: list[tuple[object, providers.Provider[Any]]] = []

    async def dependency(request: Request) -> Any:
        container = getattr(request.app.state, "container", None)
        if container is None:
            raise HarakaError(
                "provide(): no container is attached to this app (app.state.container). "
                "Pass lifespan=haraka_di.fastapi.lifespan(container) to FastAPI(), or serve "
                "it with UvicornService from an orchestrator that has a container."
            )
        if cache and cache[0][0] is container:
            target = cache[0][1]
        else:
            target = _resolve(container, provider)
            cache[:] = [(container, target)]
        result = target()
        if inspect.isawaitable(result):
            result = await result
        return result

    dependency.__name__ = dependency.__qualname__ = f"provide({_label(provider)})"
    return dependency


def _resolve(container: Any, provider: providers.Provider[Any]) -> providers.Provider[Any]:
    from dependency_injector.wiring import ProvidersMap

    found = ProvidersMap(container).resolve_provider(provider)
    if found is not None:
        return found
    if id(provider) in _provider_ids(container):
        return provider
    raise HarakaError(
        f"provide(): {provider!r} is not a provider of the running container "
        f"{container_name(container)} nor of its declarative class. Pass a provider of the "
        "container class (Container.x) or of the instance given to lifespan()."
    )


def _provider_ids(container: Any) -> set[int]:
    ids: set[int] = set()
    stack = [container]
    while stack:
        current = stack.pop()
        for provider in current.providers.values():
            ids.add(id(provider))
            if isinstance(provider, providers.Container):
                stack.append(provider.container)
    return ids


def _label(provider: providers.Provider[Any]) -> str:
    provides = getattr(provider, "provides", None)
    name = getattr(provides, "__name__", None)
    return name or type(provider).__name__
