"""What ``Orchestrator.report()`` returns, and the events listeners receive."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ._service import LifecycleState, ServiceState

__all__ = ["Event", "ServiceReport"]


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """One service's lifecycle so far. Times are seconds; offsets are from
    the moment ``run()`` began starting services."""

    name: str
    state: ServiceState
    ready: bool
    priority: int
    effective_priority: int
    wave: int | None
    dependencies: tuple[str, ...]
    start_offset: float | None
    start_duration: float | None
    stop_duration: float | None
    error: str | None = None
    crashes: int = 0
    restarts: int = 0
    kind: str = "Service"  # or "Resource": a providers.Resource node

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: enums become their values."""
        data = asdict(self)
        data["state"] = self.state.value
        data["dependencies"] = list(self.dependencies)
        return data


@dataclass(frozen=True, slots=True)
class Event:
    """A state change, as given to ``Orchestrator.subscribe`` listeners.

    ``service`` is None for a change of the orchestrator's own ``lifecycle``
    state; otherwise ``state`` is the service's new state and ``ready`` its
    readiness. ``ready`` alone changes on mark_ready / mark_not_ready.
    """

    service: str | None
    state: ServiceState | None
    ready: bool
    lifecycle: LifecycleState
    error: BaseException | None = None
