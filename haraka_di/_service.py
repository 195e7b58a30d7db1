"""The Service base class and the state enums."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["LAST", "LifecycleState", "Service", "ServiceState"]

#: The lowest priority: a service with it starts after every other service
#: and stops before all of them (UvicornService's default; exported as
#: ``haraka_di.fastapi.LAST``).
LAST = -(2**31)


class LifecycleState(enum.Enum):
    """The orchestrator's state: CREATED -> STARTING -> RUNNING -> STOPPING -> DESTROYED."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    DESTROYED = "destroyed"


class ServiceState(enum.Enum):
    """One service's state.

    PENDING -> STARTING -> STARTED (startup returned, not ready yet) or READY
    -> STOPPING -> STOPPED. FAILED when its startup or shutdown failed.
    """

    PENDING = "pending"
    STARTING = "starting"
    STARTED = "started"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Service:
    """A long-lived part of the application with an async start and stop.

    Subclass it and override :meth:`startup` and :meth:`shutdown`. The class
    attributes are optional knobs:

    - ``name``: the service's name. A service declared in a container is named
      by its attribute path there (``db``, ``infra.db``), whatever this says.
    - ``priority``: higher starts earlier and stops later (default 0).
    - ``start_timeout`` / ``stop_timeout``: seconds, or None for the
      orchestrator's default.
    - ``ready_on_startup``: False when the service calls
      ``self.runtime.mark_ready(self.name)`` itself, later.

    ``runtime`` is the orchestrator's :class:`~haraka_di.Runtime` handle. A
    container injects it by constructor (pass it to ``super().__init__``, or
    just accept it); the orchestrator also sets the attribute before startup.
    """

    name: str = ""
    priority: ClassVar[int] = 0
    start_timeout: float | None = None
    stop_timeout: float | None = None
    ready_on_startup: bool = True
    runtime: Runtime

    def __init__(self, runtime: Runtime | None = None) -> None:
        if runtime is not None:
            self.runtime = runtime

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "name", ""):
            cls.name = cls.__name__

    async def startup(self) -> None:
        """Start the service. Returning means started (and ready, by default)."""

    async def shutdown(self) -> None:
        """Stop the service and release what it holds."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
