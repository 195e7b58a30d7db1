"""SIGINT/SIGTERM through ``loop.add_signal_handler``, restored afterwards.

A loop has one handler per signal, so every orchestrator running on a loop
shares one: the first to install it saves what was there (a Python handler,
or another ``loop.add_signal_handler`` callback), each signal goes to every
orchestrator still registered, and the last to leave puts back what was
saved, in whatever order they stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["SIGNALS", "SignalHandlers"]

log = logging.getLogger("haraka_di")

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

Callback = Callable[[signal.Signals], None]


class _LoopHandlers:
    """The handlers installed on one loop, and who listens to them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.callbacks: list[Callback] = []
        self.previous: dict[signal.Signals, Any] = {}  # Python-level handlers
        self.previous_loop: dict[signal.Signals, asyncio.Handle] = {}  # loop-level ones

    def install(self) -> bool:
        loop = self.loop
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            # (asyncio keeps no public list: a handler someone added with
            # loop.add_signal_handler before us is found this way, or lost)
            before = getattr(loop, "_signal_handlers", {}).get(sig)
            try:
                loop.add_signal_handler(sig, self.dispatch, sig)
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                log.debug("cannot handle %s here (%s)", sig.name, exc)
                self.uninstall()
                return False
            self.previous[sig] = previous
            if isinstance(before, asyncio.Handle):
                self.previous_loop[sig] = before
        return True

    def dispatch(self, sig: signal.Signals) -> None:
        for callback in list(self.callbacks):
            callback(sig)

    def uninstall(self) -> None:
        loop = self.loop
        for sig, previous in self.previous.items():
            if not loop.is_closed():
                loop.remove_signal_handler(sig)
            before = self.previous_loop.get(sig)
            callback = getattr(before, "_callback", None)
            if before is not None and not before.cancelled() and callback is not None:
                loop.add_signal_handler(sig, callback, *getattr(before, "_args", ()))
            elif previous is not None:
                signal.signal(sig, previous)
        self.previous.clear()
        self.previous_loop.clear()


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopHandlers] = (
    weakref.WeakKeyDictionary()
)


class SignalHandlers:
    """Installs a callback for SIGINT and SIGTERM and puts back what was there.

    Installs nothing off the main thread or on a loop without signal support
    (``install()`` returns False); the caller then relies on whoever owns the
    process's signals (an ASGI server, a test runner).
    """

    def __init__(self) -> None:
        self._shared: _LoopHandlers | None = None
        self._callback: Callback | None = None

    def install(self, callback: Callback) -> bool:
        if self._shared is not None:
            return True
        if threading.current_thread() is not threading.main_thread():
            log.debug("not on the main thread: signal handlers not installed")
            return False
        loop = asyncio.get_running_loop()
        shared = _by_loop.get(loop)
        if shared is None:
            shared = _LoopHandlers(loop)
            if not shared.install():
                return False
            _by_loop[loop] = shared
        shared.callbacks.append(callback)
        self._shared, self._callback = shared, callback
        return True

    def restore(self) -> None:
        shared, self._shared = self._shared, None
        if shared is None:
            return
        if self._callback in shared.callbacks:
            shared.callbacks.remove(self._callback)
        self._callback = None
        if not shared.callbacks:
            if _by_loop.get(shared.loop) is shared:
                del _by_loop[shared.loop]
            shared.uninstall()
