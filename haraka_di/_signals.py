"""SIGINT/SIGTERM through ``loop.add_signal_handler``, restored afterwards."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["SIGNALS", "SignalHandlers"]

log = logging.getLogger("haraka_di")

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class SignalHandlers:
    """Installs a callback for SIGINT and SIGTERM and puts back what was there.

    Installs nothing off the main thread or on a loop without signal support
    (``installed`` stays False); the caller then relies on whoever owns the
    process's signals (an ASGI server, a test runner).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def installed(self) -> bool:
        return self._loop is not None

    def install(self, callback: Callable[[signal.Signals], None]) -> bool:
        if self._loop is not None:
            return True
        if threading.current_thread() is not threading.main_thread():
            log.debug("not on the main thread: signal handlers not installed")
            return False
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, callback, sig)
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                log.debug("cannot handle %s here (%s)", sig.name, exc)
                self._loop = loop
                self.restore()
                return False
            self._previous[sig] = previous
        self._loop = loop
        return True

    def restore(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for sig, previous in self._previous.items():
            if not loop.is_closed():
                loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)
        self._previous.clear()
