"""Fault 5, in-process: real signals (os.kill on our own pid) delivered to the
orchestrator's handlers on the test's event loop (the main thread)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from haraka_di import LifecycleState, Orchestrator, ServiceState, StartupError

from .probes import Log, calls, chain, handlers, handlers_restored, leftover_tasks, run_held

NAMES = ["db", "cache", "api"]


def kill(sig: signal.Signals) -> None:
    """Signal this process, but only while someone handles ``sig``: a
    default disposition would end the test run instead of failing it."""
    assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_during_startup_rolls_back_what_started(sig: signal.Signals) -> None:
    log = Log()
    orch = Orchestrator()
    before = handlers()
    with handlers_restored():
        probes, run, _ = await run_held(orch, log, NAMES)
        assert handlers() != before  # the orchestrator's are installed
        kill(sig)
        with pytest.raises(StartupError) as info:
            await run
    assert calls(probes) == {"db": (1, 1), "cache": (1, 1), "api": (1, 0)}
    assert log.stopped() == ["cache", "db"]
    assert str(info.value) == (
        f"Startup interrupted by {sig.name}. Stopped the 2 service(s) that had started."
    )
    assert info.value.signal == sig
    assert info.value.failures == {}
    assert orch.exit_code == 128 + sig
    assert orch.state is LifecycleState.DESTROYED
    assert {r.name: r.state for r in orch.report()}["api"] is ServiceState.STOPPED
    assert await leftover_tasks() == set()


async def test_first_signal_stops_gracefully_and_serve_returns_0() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes = chain(orch, log, NAMES)
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        kill(signal.SIGTERM)
        assert await serving == 0
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_second_signal_during_shutdown_forces_and_dependencies_still_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = Log()
    orch = Orchestrator(stop_timeout=60)
    with handlers_restored():
        probes = chain(orch, log, NAMES, cache={"stop_fault": "hang"})
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        kill(signal.SIGTERM)
        await probes["cache"].entered_stop.wait()  # would hang for 60 s
        kill(signal.SIGINT)
        status = await asyncio.wait_for(serving, 10)
    assert status == 128 + signal.SIGINT
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "db"]
    assert "received SIGINT while stopping: forcing the shutdown" in caplog.text
    assert "stop of service 'cache' was cut short by a forced shutdown" in caplog.text
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_third_signal_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    log = Log()
    orch = Orchestrator(stop_timeout=60, cancel_grace=60)
    with handlers_restored():
        # cache ignores the forced cancellation until released
        probes = chain(orch, log, NAMES, cache={"stop_fault": "deaf"})
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        kill(signal.SIGINT)
        await probes["cache"].entered_stop.wait()
        kill(signal.SIGTERM)  # force
        await probes["cache"].ignored_cancel.wait()
        third = asyncio.Event()

        def spot_third(record: logging.LogRecord) -> bool:
            if "already forcing" in record.getMessage():
                third.set()
            return True

        caplog.handler.addFilter(spot_third)
        with caplog.at_level(logging.WARNING, logger="haraka_di"):
            kill(signal.SIGINT)  # third
            await asyncio.wait_for(third.wait(), 10)
        assert not serving.done()
        assert orch.state is LifecycleState.STOPPING
        probes["cache"].release.set()
        status = await asyncio.wait_for(serving, 10)
    assert status == 128 + signal.SIGTERM  # the forcing signal decides
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "cache", "db"]
    assert "received SIGINT: already forcing the shutdown" in caplog.text
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_sigterm_and_sigint_back_to_back_force_the_shutdown() -> None:
    # Both arrive before the event loop runs anything: the second one must
    # still count as "second signal = force".
    log = Log()
    orch = Orchestrator(stop_timeout=60)
    with handlers_restored():
        probes = chain(orch, log, NAMES, api={"stop_fault": "hang"})
        serving = asyncio.create_task(orch.serve())
        await orch.wait_for_all_ready()
        kill(signal.SIGTERM)
        kill(signal.SIGINT)
        status = await asyncio.wait_for(serving, 10)
    assert status == 128 + signal.SIGINT
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_sigint_during_startup_then_sigterm_during_rollback_forces_it() -> None:
    log = Log()
    orch = Orchestrator(stop_timeout=60)
    with handlers_restored():
        probes, run, _ = await run_held(orch, log, NAMES, cache={"stop_fault": "hang"})
        kill(signal.SIGINT)
        await probes["cache"].entered_stop.wait()  # the rollback hangs here
        kill(signal.SIGTERM)
        with pytest.raises(StartupError) as info:
            await asyncio.wait_for(run, 10)
    assert calls(probes) == {"db": (1, 1), "cache": (1, 1), "api": (1, 0)}
    assert log.stopped() == ["db"]
    assert str(info.value).startswith(
        "Startup interrupted by SIGINT. Stopped the 2 service(s) that had started "
        "(some stops failed: cache)."
    )
    assert info.value.signal == signal.SIGINT
    assert orch.exit_code == 128 + signal.SIGTERM
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_handlers_installed_before_run_are_put_back() -> None:
    seen: list[int] = []

    def mine(signum: int, frame: object) -> None:
        seen.append(signum)

    old = signal.signal(signal.SIGTERM, mine)
    try:
        orch = Orchestrator()
        chain(orch, Log(), NAMES)
        with handlers_restored():
            await orch.run()
            assert signal.getsignal(signal.SIGTERM) is not mine
            await orch.shutdown()
        assert signal.getsignal(signal.SIGTERM) is mine
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.001)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)
    assert await leftover_tasks() == set()
