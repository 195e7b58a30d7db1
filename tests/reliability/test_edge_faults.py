"""Faults around the edges of the lifecycle: outer cancellation, shutdown
requested from inside, drain cut short, two orchestrators on one loop."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from haraka_di import LifecycleState, Orchestrator, Service, StartupError

from .probes import Log, calls, chain, handlers_restored, leftover_tasks, run_held

NAMES = ["db", "cache", "api"]


async def test_cancelling_the_task_running_run_rolls_back_and_propagates() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes, run, _ = await run_held(orch, log, NAMES)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert calls(probes) == {"db": (1, 1), "cache": (1, 1), "api": (1, 0)}
    assert log.stopped() == ["cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_cancelling_serve_shuts_down_in_order() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes = chain(orch, log, NAMES)
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_shutdown_during_startup_from_another_task_rolls_back() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes, run, _ = await run_held(orch, log, NAMES)
        await orch.shutdown()
        assert orch.state is LifecycleState.DESTROYED
        with pytest.raises(StartupError, match=r"^Startup interrupted by a shutdown request"):
            await run
    assert calls(probes) == {"db": (1, 1), "cache": (1, 1), "api": (1, 0)}
    assert await leftover_tasks() == set()


async def test_background_task_awaiting_shutdown_is_cancelled_not_deadlocked() -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, NAMES)
    reached: list[str] = []

    async def quitter() -> None:
        reached.append("asking")
        await orch.shutdown()  # waits for the shutdown, which cancels this task
        reached.append("returned")

    orch.add_background_task(quitter, name="quitter")
    with handlers_restored():
        await orch.run()
        await asyncio.wait_for(orch.wait_for_shutdown(), 10)
        await asyncio.wait_for(orch.shutdown(), 10)
    assert reached == ["asking"]
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert orch.exit_code == 0
    assert orch.task_report()[0].state == "cancelled"
    assert await leftover_tasks() == set()


async def test_service_awaiting_shutdown_from_its_own_shutdown_does_not_hang() -> None:
    log = Log()
    orch = Orchestrator(stop_timeout=30)
    probes = chain(orch, log, NAMES)
    original = probes["cache"].shutdown

    async def reentrant() -> None:
        await orch.shutdown()  # from inside the shutdown it is part of
        await original()

    probes["cache"].shutdown = reentrant  # type: ignore[method-assign]
    with handlers_restored():
        await orch.run()
        await asyncio.wait_for(orch.shutdown(), 10)
    assert log.stopped() == ["api", "cache", "db"]
    assert orch.exit_code == 0
    assert await leftover_tasks() == set()


async def test_second_signal_cuts_the_drain_short() -> None:
    log = Log()
    orch = Orchestrator(drain_seconds=60)
    with handlers_restored():
        probes = chain(orch, log, NAMES)
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        os.kill(os.getpid(), signal.SIGTERM)
        await orch.wait_for_shutdown()
        assert not orch.is_ready()  # readiness dropped before the drain
        await asyncio.sleep(0.01)
        assert calls(probes) == {n: (1, 0) for n in NAMES}  # draining
        os.kill(os.getpid(), signal.SIGTERM)
        status = await asyncio.wait_for(serving, 10)
    assert status == 128 + signal.SIGTERM
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert await leftover_tasks() == set()


@pytest.mark.parametrize("order", ["nested", "interleaved"])
async def test_two_orchestrators_on_one_loop_both_get_signals(order: str) -> None:
    first, second = Orchestrator(), Orchestrator()
    log1, log2 = Log(), Log()
    p1 = chain(first, log1, ["a"])
    p2 = chain(second, log2, ["b"])
    with handlers_restored():
        await first.run()
        await second.run()
        if order == "nested":
            await second.shutdown()
            survivor, other = first, p1
        else:
            await first.shutdown()
            survivor, other = second, p2
        # the one still running must still get SIGTERM (not swallowed, not fatal)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(survivor.wait_for_shutdown(), 10)
        await survivor.shutdown()
    assert next(iter(other.values())).shutdowns == 1
    assert calls(p1) == {"a": (1, 1)} and calls(p2) == {"b": (1, 1)}
    assert await leftover_tasks() == set()


async def test_a_loop_signal_handler_added_before_run_keeps_working() -> None:
    # The orchestrator captures signals with signal.signal(), underneath
    # asyncio's own handlers: one added with loop.add_signal_handler is not
    # replaced (so nothing of it needs putting back) and sees the signal too.
    loop = asyncio.get_running_loop()
    got = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, got.set)
    try:
        orch = Orchestrator()
        probes = chain(orch, Log(), NAMES)
        with handlers_restored():
            await orch.run()
            os.kill(os.getpid(), signal.SIGTERM)  # goes to the orchestrator
            await asyncio.wait_for(orch.wait_for_shutdown(), 10)
            await orch.shutdown()
        await asyncio.wait_for(got.wait(), 10)  # and to the earlier handler
        assert calls(probes) == {n: (1, 1) for n in NAMES}
        got.clear()
        os.kill(os.getpid(), signal.SIGTERM)  # which still has it afterwards
        await asyncio.wait_for(got.wait(), 10)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    assert await leftover_tasks() == set()


class HungDb(Service):
    """Built by an async provider that never returns."""


def hanging_container(entered: asyncio.Event) -> object:
    from dependency_injector import containers, providers

    async def connect() -> HungDb:
        entered.set()
        await asyncio.Event().wait()  # e.g. connecting forever
        return HungDb()

    container = containers.DynamicContainer()
    container.db = providers.Coroutine(connect)
    return container


async def test_signal_while_an_async_provider_hangs_still_rolls_back() -> None:
    entered = asyncio.Event()
    orch = Orchestrator(hanging_container(entered), start_timeout=None)
    with handlers_restored():
        run = asyncio.create_task(orch.run())
        await asyncio.wait_for(entered.wait(), 10)
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(StartupError) as info:
            await asyncio.wait_for(run, 10)
    assert str(info.value) == (
        "Startup interrupted by SIGTERM. Stopped the 0 service(s) that had started."
    )
    assert orch.exit_code == 128 + signal.SIGTERM
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_async_provider_hanging_past_the_start_timeout_fails_the_startup() -> None:
    entered = asyncio.Event()
    orch = Orchestrator(hanging_container(entered), start_timeout=0.05)
    with handlers_restored(), pytest.raises(StartupError) as info:
        await asyncio.wait_for(orch.run(), 10)
    assert str(info.value) == (
        "Startup failed: 'db': TimeoutError: building service 'db' did not finish "
        "within 0.05s. Stopped the 0 service(s) that had started."
    )
    assert isinstance(info.value.__cause__, TimeoutError)
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_cancelling_run_while_an_async_provider_hangs_propagates() -> None:
    entered = asyncio.Event()
    orch = Orchestrator(hanging_container(entered), start_timeout=None)
    with handlers_restored():
        run = asyncio.create_task(orch.run())
        await asyncio.wait_for(entered.wait(), 10)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, 10)
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()
