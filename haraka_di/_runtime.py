"""The handle services get to talk back to their orchestrator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._service import LifecycleState

if TYPE_CHECKING:
    import asyncio

    from ._orchestrator import Orchestrator
    from ._report import ServiceReport
    from ._tasks import RestartPolicy

__all__ = ["Runtime"]


class Runtime:
    """What a running service may ask of the orchestrator that runs it.

    A container declares it once, ``runtime = providers.Dependency(
    instance_of=Runtime)``, and the orchestrator binds it; a service
    registered with ``use()`` finds it as ``self.runtime``.
    """

    __slots__ = ("_orchestrator",)

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator

    @property
    def orchestrator(self) -> Orchestrator:
        """The orchestrator this handle belongs to (its container, docs_url...)."""
        return self._orchestrator

    @property
    def state(self) -> LifecycleState:
        """The orchestrator's lifecycle state."""
        return self._orchestrator.state

    def mark_ready(self, name: str) -> None:
        """Declare service ``name`` ready (raises UnknownServiceError)."""
        self._orchestrator.mark_ready(name)

    def mark_not_ready(self, name: str) -> None:
        """Revoke readiness of service ``name`` (raises UnknownServiceError)."""
        self._orchestrator.mark_not_ready(name)

    def is_ready(self, name: str | None = None) -> bool:
        """Is service ``name`` ready, or with no name: is everything?"""
        return self._orchestrator.is_ready(name)

    def spawn(
        self,
        fn: Callable[[], Awaitable[Any]] | Awaitable[Any],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> asyncio.Task[Any]:
        """Run ``fn`` as a supervised background task now (cancelled at shutdown)."""
        return self._orchestrator.spawn(fn, name=name, restart=restart)

    def add_shutdown_task(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after the last service stopped."""
        self._orchestrator.add_shutdown_task(fn)

    def request_shutdown(self, exit_code: int = 0) -> None:
        """Ask for a graceful shutdown, as a signal would."""
        self._orchestrator.request_shutdown(exit_code)

    def report(self) -> list[ServiceReport]:
        return self._orchestrator.report()

    def __repr__(self) -> str:
        return f"<Runtime of {self._orchestrator!r}>"
