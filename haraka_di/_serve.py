"""The process concerns of a run: signals, the second-signal force, and the
exit status, decided in one place.

- :class:`ExitStatus` collects the facts (a requested status, a signal that
  interrupted startup, a signal that forced the stop, a failure) and
  :attr:`ExitStatus.code` is the one rule that turns them into a status:
  128+signum after a forced stop or an interrupted startup, else the first
  non-zero status asked for, else 1 after a failure, else 0.
- :class:`Serve` maps signals and shutdown requests onto the lifecycle's
  transitions: the first signal stops gracefully (or rolls a startup back),
  a second one while stopping forces. Its handlers are installed for the
  run by :func:`~haraka_di._signals.capture_signals`, one context manager
  entered on the run's cleanup stack and closed when the run is DESTROYED.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Protocol, TypeVar

from ._lifecycle import Lifecycle, Phase
from ._signals import capture_signals
from .exceptions import ShutdownError

__all__ = ["ExitStatus", "Serve"]

log = logging.getLogger("haraka_di")


class Runnable(Protocol):
    async def run(self, settings: object = None, app: object = None) -> None: ...
    async def wait_for_shutdown(self) -> None: ...
    async def shutdown(self) -> None: ...


R = TypeVar("R", bound=Runnable)


class ExitStatus:
    """What the process should exit with; see :attr:`code`."""

    __slots__ = ("_failed", "_forced_by", "_interrupted_by", "_requested")

    def __init__(self) -> None:
        self._requested = 0
        self._interrupted_by: int | None = None
        self._forced_by: int | None = None
        self._failed = False

    def requested(self, code: int) -> None:
        if code and not self._requested:
            self._requested = code

    def interrupted(self, sig: int) -> None:
        self._interrupted_by = sig

    def forced(self, sig: int) -> None:
        self._forced_by = sig

    def failed(self) -> None:
        self._failed = True

    @property
    def code(self) -> int:
        """0 clean; 1 after a crash or failure; 128+signum after a forced
        stop or a signal during startup; or the status a caller asked for."""
        if self._forced_by is not None:
            return 128 + self._forced_by
        if self._interrupted_by is not None:
            return 128 + self._interrupted_by
        if self._requested:
            return self._requested
        return 1 if self._failed else 0


class Serve:
    """Turns signals and shutdown requests into lifecycle transitions."""

    def __init__(self, lifecycle: Lifecycle, exit_status: ExitStatus) -> None:
        self.lifecycle = lifecycle
        self.exit_status = exit_status

    def capture(self, cleanup: ExitStack) -> None:
        """Own SIGINT/SIGTERM until the run's cleanup stack closes."""
        cleanup.enter_context(capture_signals(self.on_signal))

    def on_signal(self, sig: signal.Signals) -> None:
        lifecycle = self.lifecycle
        phase = lifecycle.phase
        if phase is Phase.STARTING:
            log.warning("received %s during startup: rolling back", sig.name)
            self.exit_status.interrupted(int(sig))
            lifecycle.interrupt(sig.name, int(sig))
        elif phase is Phase.RUNNING:
            log.warning("received %s: shutting down gracefully (again to force)", sig.name)
            self.request_shutdown(0)
        elif phase in (Phase.ABORTING, Phase.STOPPING):
            log.warning("received %s while stopping: forcing the shutdown", sig.name)
            self.exit_status.forced(int(sig))
            lifecycle.force()
        else:
            log.warning("received %s: already forcing the shutdown", sig.name)

    def request_shutdown(self, exit_code: int = 0, why: str = "a shutdown request") -> None:
        """A graceful shutdown, as a signal would start it (not awaited)."""
        self.exit_status.requested(exit_code)
        self.lifecycle.board.request_stop()
        if not self.lifecycle.interrupt(why):
            self.lifecycle.begin_stop()

    def on_fatal_task(self, name: str, error: BaseException) -> None:
        """A background task crashed for good: the application ends."""
        self.request_shutdown(1, f"the crash of background task {name!r} ({error!r})")

    async def serve(self, target: Runnable, settings: object, app: object) -> int:
        """Run ``target``, wait for a signal or shutdown request, shut it
        down; return the exit status. Stop failures are logged, not raised."""
        await target.run(settings, app)
        try:
            await target.wait_for_shutdown()
        finally:
            try:
                await target.shutdown()
            except ShutdownError as exc:  # each failure was logged as it happened
                log.error("%s", exc)
        return self.exit_status.code

    @asynccontextmanager
    async def running(self, target: R, settings: object, app: object) -> AsyncIterator[R]:
        """Run ``target`` for the ``async with`` block, shut it down after."""
        await target.run(settings, app)
        try:
            yield target
        finally:
            await target.shutdown()
