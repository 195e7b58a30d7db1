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

A Python-level handler runs on the main thread between two bytecodes; a
loop asleep in its selector is only interrupted if the signal lands on the
main thread *while* it sleeps. A signal taken by another thread, or one that
comes just before the loop goes to sleep, would be seen only when something
else wakes the loop (a second Ctrl-C waiting out a 120 s stop timeout). So
the first capture also gives the process a wakeup fd (``signal.set_wakeup_fd``)
that the loop reads, unless one is set already (asyncio's own, whose reader
is the loop): the C-level handler writes to it, the loop wakes, and the
handler runs at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
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
_wakeup: list[tuple[asyncio.AbstractEventLoop, socket.socket, socket.socket]] = []  # ours, if set


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
        _set_wakeup(entry[0])
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
            _clear_wakeup()


def _set_wakeup(loop: asyncio.AbstractEventLoop) -> None:
    """Give the process a wakeup fd that ``loop`` reads, unless it has one."""
    previous = signal.set_wakeup_fd(-1)
    if previous != -1:  # asyncio's (add_signal_handler): it wakes the loop already
        signal.set_wakeup_fd(previous)
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        loop.add_reader(reader.fileno(), _drain, reader)
    except NotImplementedError:  # a loop without add_reader: no wakeup fd
        reader.close()
        writer.close()
        return
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    _wakeup.append((loop, reader, writer))


def _clear_wakeup() -> None:
    """Take back the wakeup fd :func:`_set_wakeup` gave, if it gave one."""
    if not _wakeup:
        return
    loop, reader, writer = _wakeup.pop()
    current = signal.set_wakeup_fd(-1)
    if current != writer.fileno():  # someone set theirs since (add_signal_handler): keep it
        signal.set_wakeup_fd(current)
    if not loop.is_closed():
        loop.remove_reader(reader.fileno())
    reader.close()
    writer.close()


def _drain(reader: socket.socket) -> None:
    """The wakeup fd's bytes (signal numbers) only woke the loop: drop them."""
    try:
        while reader.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
