"""Issue 14, item 8, the core's part: after a forced shutdown (a second
signal), the stops that had not begun still get up to ``cancel_grace`` (from
the force) to finish, so a quick close that waits on I/O completes and is not
reported as cut short; only what really takes longer is. Real signals on our
own pid, handled by the orchestrator on the test's loop."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from haraka_di import Orchestrator, Service, ShutdownError

from .probes import handlers_restored, leftover_tasks

pytestmark = pytest.mark.timeout(60)

GRACE = 1.0


class Step(Service):
    """``shutdown()`` waits ``seconds`` on a worker thread (as a pool's
    close does), or for ever (``seconds=None``)."""

    def __init__(self, name: str, seconds: float | None, entered: asyncio.Event | None = None):
        super().__init__()
        self.name = name
        self.seconds = seconds
        self.entered = entered
        self.closed = False

    async def shutdown(self) -> None:
        if self.entered is not None:
            self.entered.set()
        if self.seconds is None:
            await asyncio.Event().wait()
        await asyncio.to_thread(time.sleep, self.seconds)
        self.closed = True


def kill(sig: signal.Signals) -> None:
    assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), sig)


async def test_after_a_force_a_quick_later_stop_completes_and_only_the_hung_one_is_blamed() -> None:
    hanging = asyncio.Event()
    orch = Orchestrator(stop_timeout=60, cancel_grace=GRACE)
    db = orch.use(Step("db", 0.05))
    cache = orch.use(Step("cache", 0.05), dependencies=["db"])
    orch.use(Step("http", None, hanging), dependencies=["cache"])
    with handlers_restored():
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        kill(signal.SIGTERM)
        await asyncio.wait_for(hanging.wait(), 10)  # http's stop hangs (for 60 s)
        forced = time.monotonic()
        kill(signal.SIGINT)
        status = await asyncio.wait_for(serving, 10)
        took = time.monotonic() - forced
    assert status == 128 + signal.SIGINT
    assert took < GRACE + 0.5
    assert isinstance(db, Step) and db.closed
    assert isinstance(cache, Step) and cache.closed
    failed = {r.name for r in orch.report() if r.error is not None}
    assert failed == {"http"}
    assert await leftover_tasks() == set()


async def test_after_a_force_what_is_left_must_end_within_cancel_grace_of_it() -> None:
    hanging = asyncio.Event()
    orch = Orchestrator(stop_timeout=None, cancel_grace=GRACE)  # no limit but the force
    orch.use(Step("db", None))  # would hang for ever too, after the force
    orch.use(Step("http", None, hanging), dependencies=["db"])
    flushed: list[str] = []

    async def flush() -> None:
        await asyncio.sleep(0.01)
        flushed.append("flushed")

    orch.add_shutdown_task(flush)
    with handlers_restored():
        await orch.run()
        kill(signal.SIGTERM)
        await asyncio.wait_for(hanging.wait(), 10)
        forced = time.monotonic()
        kill(signal.SIGTERM)
        with pytest.raises(ShutdownError) as info:
            await asyncio.wait_for(orch.shutdown(), 10)
        took = time.monotonic() - forced
    assert sorted(info.value.failures)[:2] == ["db", "http"]
    (task,) = sorted(info.value.failures)[2:]
    assert task.startswith("shutdown task ") and task.endswith(".flush")
    assert "stop of service 'db' was cut short by a forced shutdown" in str(info.value)
    assert GRACE - 0.1 < took < 2 * GRACE + 0.5  # db got the grace, and no more
    assert flushed == []  # the grace was spent: the shutdown task was cut short at once
    assert await leftover_tasks() == set()


async def test_a_shutdown_task_that_begins_after_a_force_gets_what_is_left_of_the_grace() -> None:
    entered = asyncio.Event()
    orch = Orchestrator(stop_timeout=60, cancel_grace=GRACE)
    orch.use(Step("http", None, entered))
    flushed: list[str] = []

    async def flush() -> None:
        await asyncio.to_thread(time.sleep, 0.05)
        flushed.append("flushed")

    orch.add_shutdown_task(flush)
    with handlers_restored():
        await orch.run()
        kill(signal.SIGTERM)
        await asyncio.wait_for(entered.wait(), 10)
        kill(signal.SIGTERM)
        with pytest.raises(ShutdownError) as info:
            await asyncio.wait_for(orch.shutdown(), 10)
    assert set(info.value.failures) == {"http"}
    assert flushed == ["flushed"]
    assert await leftover_tasks() == set()
