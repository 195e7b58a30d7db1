"""What is registered before ``run()``: services given to ``use()`` and the
per-node overrides given to ``configure()``; turned into a plan and one run
record per node."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._graph import ContainerGraph, ServiceSpec
from ._options import SERVICE_OPTIONS, check
from ._plan import Node, Plan, make_plan
from ._record import Record
from ._service import Service
from ._units import Unit
from .exceptions import DuplicateServiceError, UnknownServiceError

__all__ = ["MakeUnit", "Registry"]

#: Makes a node's unit: from its container spec, or from a ``use()``d instance.
MakeUnit = Callable[[str, "ServiceSpec | None", "Service | None"], Unit]


@dataclass(eq=False)
class _Manual:
    service: Service
    priority: int | None
    dependencies: tuple[str, ...]
    start_timeout: float | None
    stop_timeout: float | None


class Registry:
    """Services registered with ``use()`` and ``configure()`` overrides."""

    def __init__(self) -> None:
        self.manual: dict[str, _Manual] = {}
        self.config: dict[str, dict[str, Any]] = {}

    def use(
        self,
        service: Service,
        priority: int | None,
        dependencies: Iterable[str],
        start_timeout: float | None,
        stop_timeout: float | None,
    ) -> None:
        if not isinstance(service, Service):
            raise TypeError(
                f"use() takes a haraka_di.Service instance, got {service!r}; "
                "subclass Service and implement startup()/shutdown()"
            )
        if isinstance(dependencies, str):
            raise TypeError(
                f"dependencies must be a list of names, got the string {dependencies!r}"
            )
        given = {"priority": priority, "start_timeout": start_timeout, "stop_timeout": stop_timeout}
        check(SERVICE_OPTIONS, given, "use()", skip_none=True)
        if service.name in self.manual:
            raise DuplicateServiceError(service.name)
        self.manual[service.name] = _Manual(
            service, priority, tuple(dependencies), start_timeout, stop_timeout
        )

    def configure(self, name: str, changes: dict[str, Any]) -> None:
        check(SERVICE_OPTIONS, changes, "configure()")
        self.config.setdefault(name, {}).update(changes)

    def collect(
        self, graph: ContainerGraph, defaults: dict[str, float | None], make_unit: MakeUnit
    ) -> tuple[Plan, dict[str, Record]]:
        """Plan the container's nodes plus the ``use()`` ones; one record each.

        ``defaults`` holds the orchestrator's ``start_timeout`` and
        ``stop_timeout``. Raises the planning errors, and UnknownServiceError
        for a ``configure()`` of a name nothing registers.
        """
        entries: dict[str, Record] = {}
        nodes: list[Node] = []
        disabled: list[str] = []
        specs = {s.name: s for s in graph.services}
        for name in self.config:
            if name not in specs and name not in self.manual:
                raise UnknownServiceError(name, [*specs, *self.manual])
        by_class: dict[type[Service] | None, _Settings] = {}
        for spec in graph.services:
            conf = self.config.get(spec.name)
            if _disabled(conf):
                disabled.append(spec.name)
                continue
            if conf is None:  # the usual case: nobody configure()d it, its class says all
                settings = by_class.get(spec.cls)
                if settings is None:
                    settings = by_class[spec.cls] = _settings(_NO_CHANGES, None, spec.cls, defaults)
            else:
                settings = _settings(conf, None, spec.cls, defaults)
            unit = make_unit(spec.name, spec, None)
            _add(spec.name, unit, settings, spec.dependencies, conf, entries, nodes)
        for name, manual in self.manual.items():
            if name in entries or name in disabled:
                raise DuplicateServiceError(name)
            conf = self.config.get(name)
            if _disabled(conf):
                disabled.append(name)
                continue
            settings = _settings(conf or _NO_CHANGES, manual, manual.service, defaults)
            unit = make_unit(name, None, manual.service)
            _add(name, unit, settings, manual.dependencies, conf, entries, nodes)
        return make_plan(nodes, disabled), entries


#: priority, start_timeout, stop_timeout, ready_on_startup
_Settings = tuple[int, float | None, float | None, bool]


def _add(
    name: str,
    unit: Unit,
    settings: _Settings,
    dependencies: tuple[str, ...],
    conf: dict[str, Any] | None,
    entries: dict[str, Record],
    nodes: list[Node],
) -> None:
    entries[name] = Record(name, unit, *settings)
    if conf and "dependencies" in conf:
        dependencies += tuple(conf["dependencies"])
    nodes.append(Node(name, settings[0], dependencies))


_NO_CHANGES: dict[str, Any] = {}  # read only: what configure() said of an unnamed service


def _disabled(conf: dict[str, Any] | None) -> bool:
    return conf is not None and not conf.get("enabled", True)


def _settings(
    conf: dict[str, Any], manual: _Manual | None, source: object, defaults: dict[str, float | None]
) -> _Settings:
    return (
        int(_setting("priority", conf, manual, source, 0)),
        _setting("start_timeout", conf, manual, source, defaults["start_timeout"]),
        _setting("stop_timeout", conf, manual, source, defaults["stop_timeout"]),
        bool(getattr(source, "ready_on_startup", True)),
    )


def _setting(
    key: str, conf: dict[str, Any], manual: _Manual | None, source: object, default: Any
) -> Any:
    """configure() > use() > the service's own attribute > the default."""
    if key in conf:
        return conf[key]
    if manual is not None and (given := getattr(manual, key)) is not None:
        return given
    own = getattr(source, key, None)
    return default if own is None else own
