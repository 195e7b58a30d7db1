"""The handle services get to talk back to their orchestrator.

:class:`Runtime` is typed against :class:`Host`, a small Protocol of what it
forwards, so it imports no orchestrator (no type-only import cycle).
Readiness is implemented once, in :class:`Readiness`, which both
``Runtime`` and ``Orchestrator`` inherit: they read the same run records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._service import LifecycleState

if TYPE_CHECKING:
    import asyncio

    from ._record import Board
    from ._report import ServiceReport
    from ._tasks import RestartPolicy

__all__ = ["Host", "Readiness", "Runtime"]


class Readiness:
    """``mark_ready`` / ``mark_not_ready`` / ``is_ready`` over a run's records."""

    __slots__ = ()
    _board: Board

    def mark_ready(self, name: str) -> None:
        """Declare service ``name`` ready (raises UnknownServiceError)."""
        self._board.mark_ready(name)

    def mark_not_ready(self, name: str) -> None:
        """Revoke the readiness of service ``name`` (raises UnknownServiceError)."""
        self._board.mark_not_ready(name)

    def is_ready(self, name: str | None = None) -> bool:
        """Is service ``name`` ready; with no name: is the whole application?"""
        return self._board.is_ready(name)


class Host(Protocol):
    """What a Runtime needs of the orchestrator behind it."""

    @property
    def state(self) -> LifecycleState: ...
    @property
    def container(self) -> Any: ...

    docs_url: str | None

    def spawn(
        self,
        fn: Callable[[], Awaitable[Any]] | Awaitable[Any],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> asyncio.Task[Any]: ...
    def add_shutdown_task(self, fn: Callable[[], Any]) -> None: ...
    def request_shutdown(self, exit_code: int = 0) -> None: ...
    def report(self) -> list[ServiceReport]: ...


class Runtime(Readiness):
    """What a running service may ask of the orchestrator that runs it.

    A container declares it once, ``runtime = providers.Dependency(
    instance_of=Runtime)``, and the orchestrator binds it; a service
    registered with ``use()`` finds it as ``self.runtime``.
    """

    __slots__ = ("_board", "_host")

    def __init__(self, host: Host, board: Board) -> None:
        self._host = host
        self._board = board

    @property
    def orchestrator(self) -> Host:
        """The orchestrator this handle belongs to."""
        return self._host

    @property
    def state(self) -> LifecycleState:
        """The orchestrator's lifecycle state."""
        return self._host.state

    @property
    def container(self) -> Any:
        """The container the orchestrator runs (None for ``use()`` alone)."""
        return self._host.container

    @property
    def docs_url(self) -> str | None:
        """The API docs URL once a server announced it."""
        return self._host.docs_url

    def publish_docs_url(self, url: str | None) -> None:
        """Record the API docs URL a server now serves (``orchestrator.docs_url``)."""
        self._host.docs_url = url

    def spawn(
        self,
        fn: Callable[[], Awaitable[Any]] | Awaitable[Any],
        *,
        name: str | None = None,
        restart: str | RestartPolicy = "never",
    ) -> asyncio.Task[Any]:
        """Run ``fn`` as a supervised background task now (cancelled at shutdown)."""
        return self._host.spawn(fn, name=name, restart=restart)

    def add_shutdown_task(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after the last service stopped."""
        self._host.add_shutdown_task(fn)

    def request_shutdown(self, exit_code: int = 0) -> None:
        """Ask for a graceful shutdown, as a signal would."""
        self._host.request_shutdown(exit_code)

    def report(self) -> list[ServiceReport]:
        """Each service's state so far (see ``Orchestrator.report``)."""
        return self._host.report()

    def __repr__(self) -> str:
        return f"<Runtime of {self._host!r}>"
