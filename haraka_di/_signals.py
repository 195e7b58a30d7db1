"""SIGINT/SIGTERM for the length of a ``with`` block: :func:`capture_signals`.

Installed with :func:`signal.signal` and put back the same way; no private
part of asyncio is touched. The handler hands each signal to the loop that
asked for it with ``call_soon_threadsafe``, so the callback runs in the loop
like any other callback.

A process has one handler per signal, so every capture in the process
shares one: the first saves what was there, each signal goes to every
capture still open, and the last to close puts back what was saved, in
whatever order they close. A callback someone added with
``loop.add_signal_handler`` keeps working underneath (asyncio is woken
through its own wakeup fd): it receives the signals too, and nothing of it
needs putting back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["SIGNALS", "capture_signals"]

log = logging.getLogger("haraka_di")

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

Callback = Callable[[signal.Signals], None]

_open: list[tuple[asyncio.AbstractEventLoop, Callback]] = []
_saved: dict[signal.Signals, Any] = {}


def _dispatch(signum: int, frame: object) -> None:
    sig = signal.Signals(signum)
    for loop, callback in list(_open):
        if not loop.is_closed():
            loop.call_soon_threadsafe(callback, sig)


@contextmanager
def capture_signals(callback: Callback) -> Iterator[bool]:
    """Route SIGINT and SIGTERM to ``callback(sig)`` on the running loop for
    the block; yields whether they were captured.

    Captures nothing off the main thread (Python delivers signals to the
    main thread only); the caller then relies on whoever owns the process's
    signals (an ASGI server, a test runner).
    """
    if threading.current_thread() is not threading.main_thread():
        log.debug("not on the main thread: signal handlers not installed")
        yield False
        return
    entry = (asyncio.get_running_loop(), callback)
    if not _open:
        for sig in SIGNALS:
            _saved[sig] = signal.signal(sig, _dispatch)
    _open.append(entry)
    try:
        yield True
    finally:
        _open.remove(entry)
        if not _open:
            for sig, previous in _saved.items():
                signal.signal(sig, signal.SIG_DFL if previous is None else previous)
            _saved.clear()
