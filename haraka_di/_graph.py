"""Container -> node graph. Pure: reads providers, builds nothing.

The nodes, named by attribute path (``db``, ``infra.pool``), in declaration
order:

- every provider whose provided object is a :class:`Service` (Factory,
  Singleton, Callable/Coroutine with a return annotation, Object);
- every ``providers.Resource`` (kind ``"Resource"``, ``cls`` None);
- a Service or Resource supplied through a ``providers.Dependency`` (its
  override, else its default), unless that provider is a node already (then
  the Dependency is an alias of it); these come after the other nodes of
  their container;
- a Service or Resource declared inline in a ``List`` (``workers[0]``), a
  ``Dict`` (``handlers[http]``) or the selected branch of a ``Selector``
  (the selector's own path) that is itself a container attribute (or inline
  in such a List/Dict/Selector: ``groups[a][0]``). The Selector's branch is
  known without building anything only when its selector is a
  ``Configuration`` option or an ``Object``; other selectors pick no node.

What counts is what each provider would really build now (the last
override, and for an unset Dependency its default): a Resource overridden by
``providers.Object(fake)`` is no node, one overridden by another Resource is
(the override is what runs).

Edges come from walking each node provider's arguments through non-node
providers (Factory, Callable, Configuration, Dict/List, Selector -- every
branch, as the selection may change before a call --, ``.provided``, nested
Container, ...) and stopping at the next node, whatever its kind: a
Service that receives a Resource depends on it, and a Resource that
receives a Service depends on that Service.
Delegates (``.provider``) are lazy and order nothing.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dependency_injector import providers

from ._service import Service

if TYPE_CHECKING:
    # dependency_injector.containers imports FastAPI when it is installed (for
    # its wiring); haraka_di imports it only when handed a container.
    from dependency_injector import containers

__all__ = [
    "ContainerGraph",
    "ServiceSpec",
    "as_container",
    "discover",
    "effective",
    "injections",
    "is_provider",
]


@dataclass(eq=False, slots=True)
class ServiceSpec:
    """One node found in a container: a Service (``cls`` is its class) or,
    with ``kind == "Resource"``, a ``providers.Resource`` (``cls`` None)."""

    name: str
    provider: providers.Provider[Any]
    cls: type[Service] | None
    dependencies: tuple[str, ...] = ()
    kind: str = "Service"

    @property
    def label(self) -> str:
        """What it runs, for people: the Service class or the resource's initializer."""
        if self.cls is not None:
            return self.cls.__qualname__
        made = getattr(effective(self.provider), "provides", None)
        return str(getattr(made, "__qualname__", None) or type(made).__name__)

    @property
    def singleton(self) -> bool:
        """Does calling the provider twice give the same instance?"""
        eff = effective(self.provider)
        return isinstance(eff, providers.BaseSingleton | providers.Object | providers.Resource)


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
    """The provider that really builds now: the last override, followed, and
    for a Dependency that nothing overrides, its default."""
    seen = 0
    while seen < 1000:
        nxt = provider.last_overriding
        if nxt is None:
            if type(provider) is not providers.Dependency:
                break
            nxt = provider.default
            if nxt is None:
                break
        provider = nxt
        seen += 1
    return provider


def discover(container: containers.Container, runtime_type: type) -> ContainerGraph:
    graph = ContainerGraph()
    node_of: dict[int, str] = {}  # id() of each service's provider and effective provider
    built_by: list[providers.Provider[Any]] = []  # each service's effective provider
    _scan(container, "", runtime_type, graph, node_of, built_by)
    reach = _Reach(node_of)
    named = node_of.get
    for spec, eff in zip(graph.services, built_by, strict=True):
        found: dict[str, None] = {}
        for child in injections(eff):
            # An injection that is a service itself (the usual edge) is
            # looked up right here: no call, no tuple, no provider check.
            name = named(id(child))
            if name is not None:
                found[name] = None
            elif is_provider(child):
                for name in reach.of(child):
                    found[name] = None
        found.pop(spec.name, None)
        spec.dependencies = tuple(found)
    graph.tied_singletons = list(reach.tied.values())
    return graph


def _scan(
    container: containers.Container,
    prefix: str,
    runtime_type: type,
    graph: ContainerGraph,
    node_of: dict[int, str],
    built_by: list[providers.Provider[Any]],
) -> None:
    """Find the nodes, runtime slots and undefined dependencies of
    ``container`` (recursing into nested containers), in declaration order."""
    supplied: list[tuple[str, providers.Provider[Any]]] = []
    for name, provider in container.providers.items():
        path = prefix + name if prefix else name
        if type(provider) in _FACTORIES and provider.last_overriding is None:
            # the usual service declaration: no override, a class to build
            eff = provider
            made = provider.provides  # type: ignore[attr-defined]
            if isinstance(made, type):
                if not issubclass(made, Service):
                    continue
                cls: type[Service] | None = made
            else:
                cls = service_type(provider)
        elif isinstance(provider, providers.Container):
            _scan(provider.container, path + ".", runtime_type, graph, node_of, built_by)
            continue
        elif isinstance(provider, providers.DependenciesContainer):
            continue
        elif isinstance(provider, providers.Dependency):
            instance_of = provider.instance_of
            unset = provider.last_overriding is None
            if instance_of is not object and issubclass(runtime_type, instance_of):
                if unset:
                    graph.runtime_slots.append(provider)
            elif unset and provider.default is None:
                graph.undefined.append(path)
            else:  # supplied: a node unless it is an alias (see below)
                supplied.append((path, provider))
            continue
        else:
            eff = effective(provider)
            if isinstance(eff, providers.Resource):
                _add(graph, node_of, built_by, path, provider, eff, None)
                continue
            if type(eff) in _INLINE:
                _inline(eff, path, graph, node_of, built_by)
                continue
            cls = service_type(eff)
        if cls is None:
            continue
        _add(graph, node_of, built_by, path, provider, eff, cls)
    # After the container's other providers, so that a Dependency overridden
    # by (or defaulting to) one of them is an alias of that node, not a second
    # node building the same provider.
    for path, provider in supplied:
        eff = effective(provider)
        known = node_of.get(id(eff))
        if known is not None:
            node_of[id(provider)] = known
        elif isinstance(eff, providers.Resource):
            _add(graph, node_of, built_by, path, provider, eff, None)
        elif type(eff) in _INLINE:
            _inline(eff, path, graph, node_of, built_by)
        elif (cls := service_type(eff)) is not None:
            _add(graph, node_of, built_by, path, provider, eff, cls)


def _add(
    graph: ContainerGraph,
    node_of: dict[int, str],
    built_by: list[providers.Provider[Any]],
    path: str,
    provider: providers.Provider[Any],
    eff: providers.Provider[Any],
    cls: type[Service] | None,
) -> None:
    kind = "Service" if cls is not None else "Resource"
    graph.services.append(ServiceSpec(path, provider, cls, (), kind))
    built_by.append(eff)
    node_of[id(provider)] = path
    node_of[id(eff)] = path


def _inline(
    provider: providers.Provider[Any],
    path: str,
    graph: ContainerGraph,
    node_of: dict[int, str],
    built_by: list[providers.Provider[Any]],
) -> None:
    """The nodes declared inline in a List, a Dict or a Selector's selected
    branch (``provider``, an effective provider), recursively."""
    items: list[tuple[str, object]]
    if type(provider) is providers.List:
        items = [(f"{path}[{i}]", child) for i, child in enumerate(provider.args)]
    elif type(provider) is providers.Dict:
        items = [(f"{path}[{key}]", child) for key, child in provider.kwargs.items()]
    else:
        branch = _selected(provider)
        items = [] if branch is None else [(path, branch)]
    for where, child in items:
        if not is_provider(child) or id(child) in node_of:
            continue  # a value, or a reference to a node declared elsewhere
        eff = effective(child)  # type: ignore[arg-type]
        if id(eff) in node_of:
            continue
        if isinstance(eff, providers.Resource):
            _add(graph, node_of, built_by, where, child, eff, None)  # type: ignore[arg-type]
        elif type(eff) in _INLINE:
            _inline(eff, where, graph, node_of, built_by)
        elif (cls := service_type(eff)) is not None:
            _add(graph, node_of, built_by, where, child, eff, cls)  # type: ignore[arg-type]


def _selected(selector: providers.Provider[Any]) -> providers.Provider[Any] | None:
    """The branch a Selector would pick now, when that is known without
    building anything (a Configuration option or an Object selects)."""
    choose = getattr(selector, "selector", None)
    if not isinstance(choose, _PURE_SELECTORS):
        return None
    try:
        key = choose()
    except Exception:  # undefined (strict config): nothing is selected yet
        return None
    branches: dict[Any, providers.Provider[Any]] = selector.providers  # type: ignore[attr-defined]
    return branches.get(key) if isinstance(key, Hashable) else None


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
# cost of its chained generators, which dominated graph derivation. (Their
# instances cannot be delegated: ``__IS_DELEGATED__`` is a class attribute.)
_FACTORIES = frozenset(
    {
        providers.Factory,
        providers.Singleton,
        providers.ThreadSafeSingleton,
        providers.ThreadLocalSingleton,
    }
)
_CALLABLES = frozenset({providers.Callable, providers.Coroutine})
# Holders of inline declarations whose elements can be nodes.
_INLINE = frozenset({providers.List, providers.Dict, providers.Selector})
_PURE_SELECTORS = (
    providers.Configuration,
    providers.ConfigurationOption,
    providers.TypedConfigurationOption,
    providers.Object,
)


def injections(provider: providers.Provider[Any]) -> Sequence[Any]:
    """What ``provider`` injects, without its overriding providers; for the
    usual provider types also plain values (callers skip non-providers)."""
    kind = type(provider)
    if kind in _FACTORIES:
        p: Any = provider
        return (p.provides, *p.args, *p.kwargs.values(), *p.attributes.values())
    if kind in _CALLABLES or kind is providers.Resource:
        p = provider
        return (p.provides, *p.args, *p.kwargs.values())
    if isinstance(provider, providers.Delegate) or providers.is_delegated(provider):
        return ()
    overriding = {id(p) for p in provider.overridden}
    return [child for child in provider.related if id(child) not in overriding]


# Plain values injected as they are (numbers, strings, containers of them,
# the class a Factory or Singleton provides, the function a Resource or a
# Callable calls). ``is_provider`` costs ~0.4 us on them (a failed attribute
# lookup), more than the rest of an edge; none of these exact types can be a
# provider.
_PLAIN = frozenset(
    {
        int,
        float,
        str,
        bytes,
        bool,
        type(None),
        list,
        tuple,
        dict,
        set,
        frozenset,
        type,
        types.FunctionType,
        types.BuiltinFunctionType,
    }
)


def is_provider(obj: object) -> bool:
    return type(obj) not in _PLAIN and providers.is_provider(obj)


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
            for child in injections(provider):
                if is_provider(child):
                    for n in self.of(child):
                        found[n] = None
            result = tuple(found)
        self._memo[key] = result
        if result and isinstance(provider, providers.BaseSingleton):
            self.tied[key] = provider
        return result
