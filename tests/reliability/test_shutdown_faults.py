"""Faults 4 and 6: shutdown() raises or hangs; shutdown() called
concurrently and again after DESTROYED."""

from __future__ import annotations

import asyncio

import pytest

from haraka_di import LifecycleState, Orchestrator, ServiceState, ShutdownError

from .probes import Log, calls, chain, handlers_restored, leftover_tasks

NAMES = ["db", "cache", "api"]


async def test_shutdown_raising_is_reported_and_the_others_still_stop() -> None:
    log = Log()
    orch = Orchestrator()
    boom = OSError("flush failed")
    ran: list[str] = []
    orch.add_shutdown_task(lambda: ran.append("after"))
    with handlers_restored():
        probes = chain(orch, log, NAMES, cache={"stop_fault": boom})
        await orch.run()
        with pytest.raises(ShutdownError) as info:
            await orch.shutdown()
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "db"]
    assert str(info.value).startswith(
        "Shutdown finished with failures: 'cache': OSError: flush failed"
    )
    assert info.value.failures == {"cache": boom}
    assert list(info.value.exceptions) == [boom]
    assert ran == ["after"]  # shutdown tasks still run
    assert orch.state is LifecycleState.DESTROYED
    assert orch.exit_code == 1
    assert {r.name: r.state for r in orch.report()}["cache"] is ServiceState.FAILED
    assert await leftover_tasks() == set()


@pytest.mark.parametrize("fault", ["hang", "deaf"])
async def test_shutdown_hanging_past_its_timeout_then_dependencies_stop(fault: str) -> None:
    log = Log()
    orch = Orchestrator(cancel_grace=0.05)
    with handlers_restored():
        probes = chain(orch, log, NAMES, cache={"stop_fault": fault})
        orch.configure("cache", stop_timeout=0.05)
        await orch.run()
        with pytest.raises(ShutdownError) as info:
            await orch.shutdown()
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "db"]
    # db (cache's dependency) stopped only after cache's stop was given up
    assert log.lines.index("enter-stop db") > log.lines.index("enter-stop cache")
    if fault == "deaf":
        assert log.lines.index("enter-stop db") > log.lines.index("ignored-cancel cache")
    error = info.value.failures["cache"]
    assert isinstance(error, TimeoutError)
    assert str(error) == "stop of service 'cache' was cut short by its 0.05s timeout"
    assert orch.state is LifecycleState.DESTROYED
    left = await leftover_tasks()
    if left:  # deaf: it ignored its cancellation, and is cancelled again until it ends
        assert fault == "deaf" and [t.get_name() for t in left] == ["haraka:cache"]
        await asyncio.wait(left, timeout=5)  # (its release is never set)
    assert await leftover_tasks() == set()


async def test_shutdown_called_concurrently_from_three_tasks_stops_once() -> None:
    log = Log()
    orch = Orchestrator()
    gate = asyncio.Event()
    with handlers_restored():
        probes = chain(orch, log, NAMES, api={"stop_gate": gate})
        await orch.run()
        callers = [asyncio.create_task(orch.shutdown()) for _ in range(3)]
        await probes["api"].entered_stop.wait()
        assert orch.state is LifecycleState.STOPPING
        assert not any(c.done() for c in callers)
        gate.set()
        results = await asyncio.gather(*callers)
    assert results == [None, None, None]
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    await orch.shutdown()  # again, after DESTROYED: a no-op
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert orch.state is LifecycleState.DESTROYED
    assert orch.exit_code == 0
    assert await leftover_tasks() == set()


async def test_concurrent_shutdowns_all_see_the_failure_and_later_calls_are_quiet() -> None:
    log = Log()
    orch = Orchestrator()
    boom = RuntimeError("disk gone")
    with handlers_restored():
        probes = chain(orch, log, NAMES, db={"stop_fault": boom})
        await orch.run()
        results = await asyncio.gather(*(orch.shutdown() for _ in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ShutdownError] * 3
    assert all(r.failures == {"db": boom} for r in results)  # type: ignore[union-attr]
    await orch.shutdown()  # already DESTROYED: the failure was reported once
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_shutdown_of_a_cancelled_caller_still_finishes_the_stop() -> None:
    log = Log()
    orch = Orchestrator()
    gate = asyncio.Event()
    with handlers_restored():
        probes = chain(orch, log, NAMES, api={"stop_gate": gate})
        await orch.run()
        impatient = asyncio.create_task(orch.shutdown())
        await probes["api"].entered_stop.wait()
        impatient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await impatient
        gate.set()
        await orch.shutdown()  # the stop went on; this one waits for it
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_shutdown_before_run_destroys_without_calling_anything() -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, NAMES)
    with handlers_restored():
        await orch.shutdown()
    assert calls(probes) == {n: (0, 0) for n in NAMES}
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()
