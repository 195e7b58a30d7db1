"""Reliability, round 2: the core defects found by fault injection, each with
the test that failed before its fix (see docs/failures.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
from dependency_injector import containers, providers

from haraka_di import (
    HarakaError,
    LifecycleError,
    Orchestrator,
    ReadinessTimeoutError,
    Service,
    ShutdownError,
    StartupError,
    UnknownServiceError,
)

from .probes import Log, chain, handlers_restored, leftover_tasks

pytestmark = pytest.mark.timeout(60)


class Client(Service):
    def __init__(self, conn: object) -> None:
        super().__init__()
        self.conn = conn


async def test_a_build_given_up_on_its_start_timeout_leaves_nothing_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    async def connect() -> str:
        seen.append("began")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("finished")  # pragma: no cover - the defect
        return "conn"

    class C(containers.DeclarativeContainer):
        conn = providers.Coroutine(connect)
        client = providers.Singleton(Client, conn)

    orch = Orchestrator(C(), start_timeout=0.2, handle_signals=False)
    with pytest.raises(StartupError, match="building service 'client' did not finish"):
        await orch.run()
    assert seen == ["began", "cancelled"]  # cancelled and awaited before run() returned
    assert await leftover_tasks() == set()
    assert "InvalidStateError" not in caplog.text
    assert "Exception in callback" not in caplog.text


async def test_a_shutdown_request_during_an_async_build_cancels_it() -> None:
    entered = asyncio.Event()
    seen: list[str] = []

    async def connect() -> str:
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "conn"  # pragma: no cover

    class C(containers.DeclarativeContainer):
        conn = providers.Coroutine(connect)
        client = providers.Singleton(Client, conn)

    orch = Orchestrator(C(), handle_signals=False)
    run = asyncio.create_task(orch.run())
    await entered.wait()
    orch.request_shutdown()
    with pytest.raises(StartupError, match="interrupted by a shutdown request"):
        await run
    assert seen == ["cancelled"]
    assert await leftover_tasks() == set()


async def test_a_hanging_shutdown_task_is_cut_short_by_the_stop_timeout() -> None:
    orch = Orchestrator(stop_timeout=0.2, handle_signals=False)
    chain(orch, Log(), ["db"])

    async def flush_forever() -> None:
        await asyncio.Event().wait()

    orch.add_shutdown_task(flush_forever)
    await orch.run()
    began = time.monotonic()
    with pytest.raises(ShutdownError, match=r"shutdown task .*flush_forever.* cut short by its"):
        await orch.shutdown()
    assert time.monotonic() - began < 5
    assert orch.exit_code == 1
    assert await leftover_tasks() == set()


async def test_a_second_signal_cuts_a_shutdown_task_short_even_without_a_timeout() -> None:
    orch = Orchestrator(stop_timeout=None)
    chain(orch, Log(), ["db"])
    entered = asyncio.Event()

    async def flush_forever() -> None:
        entered.set()
        await asyncio.Event().wait()

    orch.add_shutdown_task(flush_forever)
    with handlers_restored():
        await orch.run()
        os.kill(os.getpid(), signal.SIGTERM)  # graceful: stops db, then the task hangs
        await asyncio.wait_for(entered.wait(), 10)
        os.kill(os.getpid(), signal.SIGTERM)  # forces
        with pytest.raises(ShutdownError, match="cut short by a forced shutdown"):
            await asyncio.wait_for(orch.shutdown(), 10)
    assert orch.exit_code == 128 + signal.SIGTERM
    assert await leftover_tasks() == set()


class Stubborn(Service):
    """Swallows its first cancellations, then ends at the next one."""

    def __init__(self, swallow: int) -> None:
        super().__init__()
        self.swallow = swallow
        self.swallowed = 0
        self.ended = asyncio.Event()

    async def startup(self) -> None:
        try:
            while True:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    if self.swallowed == self.swallow:
                        raise
                    self.swallowed += 1
        finally:
            self.ended.set()


async def test_an_abandoned_start_is_cancelled_again_until_it_ends() -> None:
    stubborn = Stubborn(swallow=3)
    stubborn.name = "stubborn"
    orch = Orchestrator(start_timeout=0.1, cancel_grace=0.1, handle_signals=False)
    orch.use(stubborn)
    with pytest.raises(StartupError, match="ignored its cancellation"):
        await orch.run()
    await asyncio.wait_for(stubborn.ended.wait(), 10)  # level-triggered cancellation
    assert stubborn.swallowed == 3
    assert await leftover_tasks() == set()


async def test_mark_ready_from_a_worker_thread_wakes_wait_for_all_ready() -> None:
    class Consumer(Service):
        name = "consumer"
        ready_on_startup = False

    orch = Orchestrator(handle_signals=False)
    orch.use(Consumer())
    async with orch.running():
        with pytest.raises(UnknownServiceError):  # a bad name is still an error at once
            await asyncio.to_thread(orch.mark_ready, "nope")
        thread = threading.Thread(target=orch.runtime.mark_ready, args=("consumer",))
        thread.start()
        began = time.monotonic()
        await orch.wait_for_all_ready(timeout=20)
        assert time.monotonic() - began < 10  # woken, not timed out
        thread.join()
        await asyncio.to_thread(orch.mark_not_ready, "consumer")
        with pytest.raises(ReadinessTimeoutError):
            await orch.wait_for_all_ready(timeout=0.05)


async def test_every_lifecycle_misuse_error_is_a_haraka_error_and_a_runtime_error() -> None:
    orch = Orchestrator(handle_signals=False)
    chain(orch, Log(), ["db"])
    await orch.run()
    errors = []
    with pytest.raises(LifecycleError) as info:
        await orch.run()
    errors.append(info.value)
    with pytest.raises(LifecycleError) as info:
        orch.use(Service())
    errors.append(info.value)
    await orch.shutdown()
    never = asyncio.sleep(0)
    with pytest.raises(LifecycleError) as info:
        orch.spawn(never)
    never.close()
    errors.append(info.value)
    for error in errors:
        assert isinstance(error, HarakaError) and isinstance(error, RuntimeError)
    assert await leftover_tasks() == set()
