"""Container -> service graph. Pure: reads providers, builds nothing.

Every provider whose provided object is a :class:`Service` becomes a node
named by its attribute path. Edges come from walking each service provider's
arguments through non-service providers (Factory, Callable, Configuration,
Dict/List, Selector, ``.provided``, nested Container, ...) and stopping at
the next service. The walk follows what each provider would really build now
(``last_overriding``), so overrides count. Delegates (``.provider``) are lazy
and order nothing.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dependency_injector import providers

from ._service import Service

if TYPE_CHECKING:
    # dependency_injector.containers imports FastAPI when it is installed (for
    # its wiring); haraka_di imports it only when handed a container.
    from dependency_injector import containers

__all__ = ["ContainerGraph", "ServiceSpec", "as_container", "discover", "effective"]


@dataclass(eq=False)
class ServiceSpec:
    """One service node found in a container."""

    name: str
    provider: providers.Provider[Any]
    cls: type[Service]
    dependencies: tuple[str, ...] = ()

    @property
    def singleton(self) -> bool:
        """Does calling the provider twice give the same instance?"""
        eff = effective(self.provider)
        return isinstance(eff, providers.BaseSingleton | providers.Object)


@dataclass(eq=False)
class ContainerGraph:
    services: list[ServiceSpec] = field(default_factory=list)
    runtime_slots: list[providers.Dependency[Any]] = field(default_factory=list)
    undefined: list[str] = field(default_factory=list)
    # non-service singletons that hold a service (directly or not): their
    # cached instance belongs to one run, like the service it holds
    tied_singletons: list[providers.BaseSingleton[Any]] = field(default_factory=list)


def is_container(target: object) -> bool:
    """Is ``target`` a container instance or a declarative container class?"""
    from dependency_injector import containers

    if isinstance(target, type):
        return issubclass(target, containers.DeclarativeContainer)
    return isinstance(target, containers.Container)


def as_container(target: object) -> containers.Container:
    """Accept a container instance or a container class (instantiated)."""
    if not is_container(target):
        raise TypeError(
            f"Expected a dependency-injector container (class or instance), got {target!r}"
        )
    return target() if isinstance(target, type) else target  # type: ignore[return-value]


def container_name(container: object) -> str:
    """The declarative class name of a container instance (for messages)."""
    parent = getattr(container, "declarative_parent", None)
    return str(getattr(parent, "__name__", None) or type(container).__name__)


def effective(provider: providers.Provider[Any]) -> providers.Provider[Any]:
    """The provider that really builds now: the last override, followed."""
    seen = 0
    while (nxt := provider.last_overriding) is not None and seen < 1000:
        provider = nxt
        seen += 1
    return provider


def discover(container: containers.Container, runtime_type: type) -> ContainerGraph:
    graph = ContainerGraph()
    node_of: dict[int, str] = {}
    for path, provider in _walk(container, ""):
        eff = effective(provider)
        if isinstance(provider, providers.Dependency):
            instance_of = provider.instance_of
            if instance_of is not object and issubclass(runtime_type, instance_of):
                if eff is provider:
                    graph.runtime_slots.append(provider)
                continue
            if eff is provider and provider.default is None:
                graph.undefined.append(path)
            continue
        cls = service_type(eff)
        if cls is None:
            continue
        graph.services.append(ServiceSpec(path, provider, cls))
        node_of[id(provider)] = path
        node_of[id(eff)] = path
    reach = _Reach(node_of)
    for spec in graph.services:
        found: dict[str, None] = {}
        for child in _children(effective(spec.provider)):
            for name in reach.of(child):
                if name != spec.name:
                    found[name] = None
        spec.dependencies = tuple(found)
    graph.tied_singletons = list(reach.tied.values())
    return graph


def _walk(
    container: containers.Container, prefix: str
) -> Iterator[tuple[str, providers.Provider[Any]]]:
    for name, provider in container.providers.items():
        path = prefix + name
        if isinstance(provider, providers.Container):
            yield from _walk(provider.container, path + ".")
        elif not isinstance(provider, providers.DependenciesContainer):
            yield path, provider


def service_type(provider: providers.Provider[Any]) -> type[Service] | None:
    """The Service subclass ``provider`` builds, or None if it builds none."""
    if isinstance(provider, providers.Object):
        obj = provider.provides
        return type(obj) if isinstance(obj, Service) else None
    made: object = None
    if isinstance(provider, providers.Factory | providers.BaseSingleton):
        made = provider.cls
    elif isinstance(provider, providers.Callable):  # Callable and Coroutine
        made = provider.provides
    else:
        return None
    if isinstance(made, type):
        return made if issubclass(made, Service) else None
    try:
        returned = typing.get_type_hints(made).get("return")
    except Exception:  # unresolvable annotations: not something we can order
        return None
    if isinstance(returned, type) and issubclass(returned, Service):
        return returned
    return None


# The providers services are usually declared with. For exactly these types
# their injections are read straight from args/kwargs/attributes: the same
# providers ``related`` yields (minus the overriding ones), at a fifth of the
# cost of its chained generators, which dominated graph derivation.
_FACTORIES = frozenset(
    {
        providers.Factory,
        providers.Singleton,
        providers.ThreadSafeSingleton,
        providers.ThreadLocalSingleton,
    }
)
_CALLABLES = frozenset({providers.Callable, providers.Coroutine})


def _children(provider: providers.Provider[Any]) -> Iterator[providers.Provider[Any]]:
    """What ``provider`` injects, without its overriding providers."""
    if isinstance(provider, providers.Delegate) or providers.is_delegated(provider):
        return
    kind = type(provider)
    if kind in _FACTORIES or kind in _CALLABLES:
        injected = [provider.provides, *provider.args, *provider.kwargs.values()]  # type: ignore[attr-defined]
        if kind in _FACTORIES:
            injected += provider.attributes.values()  # type: ignore[attr-defined]
        yield from filter(providers.is_provider, injected)
        return
    overriding = {id(p) for p in provider.overridden}
    for child in provider.related:
        if id(child) not in overriding:
            yield child


class _Reach:
    """Memoised: which services a (non-service) provider leads to."""

    def __init__(self, node_of: dict[int, str]) -> None:
        self._node_of = node_of
        self._memo: dict[int, tuple[str, ...]] = {}
        self.tied: dict[int, providers.BaseSingleton[Any]] = {}

    def of(self, provider: providers.Provider[Any]) -> tuple[str, ...]:
        key = id(provider)
        name = self._node_of.get(key)
        if name is not None:
            return (name,)
        memo = self._memo.get(key)
        if memo is not None:
            return memo
        self._memo[key] = ()  # guards against cycles of plain providers
        if providers.is_delegated(provider) or isinstance(provider, providers.Delegate):
            return ()
        eff = effective(provider)
        if eff is not provider:
            result = self.of(eff)
        else:
            found: dict[str, None] = {}
            for child in _children(provider):
                for n in self.of(child):
                    found[n] = None
            result = tuple(found)
        self._memo[key] = result
        if result and isinstance(provider, providers.BaseSingleton):
            self.tied[key] = provider
        return result
