"""Finding routes that would use a container nobody runs.

``lifespan(Container)`` given the class builds and runs a new instance; a
module wired earlier to another instance (``container = Container();
container.wire(...)``) keeps resolving ``@inject`` / ``Provide[...]`` from
that one, whose services never started. Nothing fails: the routes just get
objects that are not running. :func:`stray_injections` finds them when the
services start, by asking dependency-injector what each marker of a route
would resolve to in the running container and comparing it with what the
route is wired to; :func:`warn_stray_injections` logs one WARNING per route
saying what to do. ``provide()`` dependencies are checked the same way
(they would fail at request time). A lifespan() and a UvicornService check
the app when its services have started.

It reads the registry of ``@inject``-patched functions that
``dependency_injector.wiring`` keeps (a private part of it): if that ever
changes, the check finds nothing rather than failing the startup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from .._graph import container_name
from ..exceptions import HarakaError

__all__ = ["stray_injections", "warn_stray_injections"]

log = logging.getLogger("haraka_di")

_MAX_DEPTH = 50  # nested dependencies / mounted apps, far deeper than any real app


def warn_stray_injections(app: Any, container: Any, who: str, fix: str) -> list[str]:
    """Log one WARNING per route dependency that resolves from a container
    other than ``container`` (the one ``who`` runs), saying ``fix``;
    returns the messages."""
    messages = []
    for route, what, wired in stray_injections(app, container):
        if wired:
            message = (
                f"route {route}: {what} from another container, not from the container "
                f"{who} runs ({container_name(container)}), so its services were never "
                f"started; {fix}"
            )
        else:
            message = f"route {route}: its provide() dependency will fail: {what}"
        log.warning("%s", message)
        messages.append(message)
    return messages


def stray_injections(app: Any, container: Any) -> list[tuple[str, str, bool]]:
    """(route, what, wired) for each dependency of ``app``'s routes that
    resolves from a container other than ``container``: ``wired`` for
    dependency-injector's wiring, else a ``provide()`` (``what`` is then its
    error)."""
    if container is None:
        return []
    try:
        from dependency_injector.wiring import ProvidersMap, _patched_registry
    except ImportError:  # pragma: no cover - a dependency-injector without them
        return []
    running = ProvidersMap(container)
    found: list[tuple[str, str, bool]] = []
    for route, call in _calls(app, 0):
        provider = getattr(call, "__haraka_provide__", None)
        if provider is not None:
            found += [(route, error, False) for error in _check_provide(container, provider)]
            continue
        try:
            patched = _patched_registry.get_callable(call)
        except TypeError:  # an unhashable callable: not patched
            continue
        if patched is None:
            continue
        for param, marker in getattr(patched, "reference_injections", {}).items():
            wired = getattr(patched, "injections", {}).get(param)
            if wired is None:
                continue  # not wired at all: dependency-injector's own concern
            try:
                expected = running.resolve_provider(marker.provider, marker.modifier)
            except Exception:  # a marker we cannot resolve: say nothing
                continue
            if expected is None or _unwrap(expected) is not _unwrap(wired):
                name = getattr(call, "__qualname__", repr(call))
                found.append((route, f"{name}() resolves {param!r}", True))
    return found


def _check_provide(container: Any, provider: Any) -> list[str]:
    from ._provide import resolve_in

    try:
        resolve_in(container, provider)
    except HarakaError as exc:
        return [str(exc).removeprefix("provide(): ")]
    return []


def _calls(app: Any, depth: int) -> Iterator[tuple[str, Any]]:
    """(route, callable) for every endpoint and dependency of every route,
    included routers and mounted sub-apps included."""
    if depth > _MAX_DEPTH:
        return
    for path, methods, route in _routes(getattr(app, "routes", None) or ()):
        label = f"{'/'.join(sorted(methods or ['WS']))} {path}"
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            yield from _dependant_calls(label, dependant, 0)
        mounted = getattr(route, "app", None)
        if mounted is not None and mounted is not app and getattr(mounted, "routes", None):
            yield from _calls(mounted, depth + 1)


def _routes(routes: Any) -> Iterator[tuple[str, Any, Any]]:
    """(path, methods, route) of each route; FastAPI >= 0.16x includes a
    router lazily, and ``iter_route_contexts`` flattens that."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI: app.routes is already flat
        for route in routes:
            yield getattr(route, "path", "?"), getattr(route, "methods", None), route
        return
    for context in iter_route_contexts(routes):
        yield context.path or "?", context.methods, context.original_route


def _dependant_calls(label: str, dependant: Any, depth: int) -> Iterator[tuple[str, Any]]:
    if depth > _MAX_DEPTH:
        return
    call = getattr(dependant, "call", None)
    if call is not None:
        yield label, call
    for sub in getattr(dependant, "dependencies", ()):
        yield from _dependant_calls(label, sub, depth + 1)


def _unwrap(provider: Any) -> Any:
    """A ``Provider[...]`` marker is wired to a Delegate of the provider."""
    from dependency_injector import providers

    while isinstance(provider, providers.Delegate):
        provider = provider.provides
    return provider
