"""A signal must reach the orchestrator even when the event loop sleeps in
its selector and the signal lands on another thread (or just before the
loop went to sleep): the handler wakes the loop through a wakeup fd, as
``loop.add_signal_handler`` would, instead of waiting for the loop's next
timer (a second Ctrl-C could otherwise wait for the whole stop timeout)."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from haraka_di._signals import capture_signals

pytestmark = pytest.mark.timeout(20)


async def test_a_signal_taken_by_another_thread_still_wakes_the_loop() -> None:
    got: list[signal.Signals] = []
    woken = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        got.append(sig)
        woken.set()

    release = threading.Event()
    helper = threading.Thread(target=release.wait, daemon=True)
    helper.start()
    try:
        with capture_signals(on_signal):
            # The main thread is about to sleep in the selector; the C-level
            # handler runs on the helper thread and cannot interrupt it.
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, signal.pthread_kill, helper.ident, signal.SIGINT)
            began = loop.time()
            # Nothing else wakes the loop for 5 s: without a wakeup fd the
            # signal is only seen then.
            await asyncio.wait_for(woken.wait(), 5.0)
            waited = loop.time() - began
    finally:
        release.set()
        helper.join()
    assert got == [signal.SIGINT]
    assert waited < 2.5, f"the signal was seen only after {waited:.2f}s"


async def test_the_wakeup_fd_is_put_back_when_the_last_capture_closes() -> None:
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with capture_signals(lambda sig: None):
        with capture_signals(lambda sig: None):
            pass
        inside = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(inside)
        assert inside != -1
    after = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(after)
    assert after == before


async def test_a_wakeup_fd_asyncio_set_meanwhile_is_left_in_place() -> None:
    # A program that adds loop.add_signal_handler while a capture is open
    # keeps asyncio's wakeup fd (and its handler) after the capture closes.
    loop = asyncio.get_running_loop()
    with capture_signals(lambda sig: None):
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        asyncios = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(asyncios)
    try:
        after = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(after)
        assert after == asyncios != -1
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
