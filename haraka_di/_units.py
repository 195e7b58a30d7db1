"""What a node does when it starts and stops: the unit of work the
lifecycle runs, one per node.

A unit knows nothing of ordering, timeouts or records; the lifecycle runs
``start()`` once its dependencies have started and ``stop()`` once its
dependents have stopped, each at most once.

- :class:`ServiceUnit`: a :class:`~haraka_di.Service`. One given to
  ``use()`` is an instance already; one declared in a container is built
  from its provider *inside its own start*, after its dependencies have
  started, so whatever it is built from (a Resource above all) is already
  running when its constructor receives it.
- :class:`~haraka_di._resources.ResourceUnit`: a ``providers.Resource``.

A new kind of node is a new unit class with the same three members.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from ._resources import ResourceUnit
from ._service import Service
from ._tasks import current_service

if TYPE_CHECKING:
    from ._assembly import Assembly
    from ._graph import ServiceSpec
    from ._runtime import Runtime

__all__ = ["ServiceUnit", "Unit", "unit_maker"]


class Unit(Protocol):
    """One node's start and stop."""

    #: "Service" or "Resource": what ``report()`` and ``haraka graph`` show.
    kind: str
    #: True while ``start()`` is still building the node's object (a start
    #: timeout then says "building ... did not finish").
    building: bool
    #: True if ``start()`` is a plain call that returns a future already under
    #: way (a Resource's initialisation): it then runs without a task of its own.
    direct: bool

    @property
    def pending(self) -> bool:
        """After a start that did not finish: is something left for ``stop()``
        to clean up (a Resource whose init opened it anyway)?"""
        ...

    def start(self) -> Awaitable[None]: ...
    def stop(self) -> Awaitable[None]: ...


class ServiceUnit:
    """A Service: built (if declared in a container), then ``startup()``;
    stopped by ``shutdown()``."""

    kind = "Service"
    direct = False  # building and startup() run in the step's own task
    pending = False  # a Service whose start did not finish is not stopped
    __slots__ = ("_assembly", "_runtime", "_spec", "building", "name", "service")

    def __init__(
        self,
        name: str,
        runtime: Runtime,
        *,
        service: Service | None = None,
        spec: ServiceSpec | None = None,
        assembly: Assembly | None = None,
    ) -> None:
        self.name = name
        self.service = service
        self.building = False
        self._runtime = runtime
        self._spec = spec
        self._assembly = assembly

    def start(self) -> Awaitable[None]:
        # A plain function: a use()d or synchronously built service costs
        # no coroutine of its own, only its startup().
        service = self.service
        if service is None:
            if self._spec is None or self._assembly is None:
                raise TypeError(f"service {self.name!r} has neither an instance nor a provider")
            made = self._assembly.build(self._spec)
            if not isinstance(made, Service):
                return self._start_built(made)
            service = self._adopt(made)
        current_service.set(self.name)  # tasks it spawns are counted as its own
        return service.startup()

    async def _start_built(self, made: Awaitable[Service]) -> None:
        self.building = True
        service = self._adopt(await made)
        self.building = False
        current_service.set(self.name)
        await service.startup()

    def _adopt(self, service: Service) -> Service:
        service.name = self.name
        service.runtime = self._runtime
        self.service = service
        return service

    def stop(self) -> Awaitable[None]:
        return self.service.shutdown() if self.service is not None else _nothing()


async def _nothing() -> None:
    return None


def unit_maker(
    runtime: Runtime, assembly: Assembly
) -> Callable[[str, ServiceSpec | None, Service | None], Unit]:
    """``make(name, spec, service)``: the unit of a container node (``spec``)
    or of a service given to ``use()``."""

    def make(name: str, spec: ServiceSpec | None, service: Service | None) -> Unit:
        if spec is not None and spec.kind == "Resource":
            return ResourceUnit(name, spec.provider)
        return ServiceUnit(name, runtime, service=service, spec=spec, assembly=assembly)

    return make
