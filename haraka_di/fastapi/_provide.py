"""provide(): a wiring-free FastAPI dependency on a provider of the running
container (``app.state.container``)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dependency_injector import providers
from starlette.requests import Request

from .._graph import container_name
from ..exceptions import HarakaError

__all__ = ["provide"]

T = TypeVar("T")


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
            target = resolve_in(container, provider)
            cache[:] = [(container, target)]
        result = target()
        if inspect.isawaitable(result):
            result = await result
        return result

    dependency.__name__ = dependency.__qualname__ = f"provide({_label(provider)})"
    dependency.__haraka_provide__ = provider  # type: ignore[attr-defined]  # read by _wiring
    return dependency


def resolve_in(container: Any, provider: providers.Provider[Any]) -> providers.Provider[Any]:
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
