"""Concurrent start, max_concurrency, timeouts, rollback, shutdown, tasks."""

from __future__ import annotations

import asyncio

import pytest

from haraka_di import (
    Event,
    HarakaError,
    LifecycleState,
    Orchestrator,
    Service,
    ServiceState,
    ShutdownError,
    StartupError,
    UnknownServiceError,
)

from .helpers import Journal, Recorder


def _starting(orch: Orchestrator) -> list[str]:
    return [r.name for r in orch.report() if r.state is ServiceState.STARTING]


async def test_independent_services_start_concurrently() -> None:
    journal = Journal()
    gate = asyncio.Event()
    orch = Orchestrator()
    a = orch.use(Recorder("a", journal, gate=gate))
    b = orch.use(Recorder("b", journal, gate=gate))
    orch.use(Recorder("c", journal), dependencies=["a", "b"])
    run = asyncio.create_task(orch.run())
    await asyncio.wait_for(asyncio.gather(a.entered.wait(), b.entered.wait()), 10)
    assert _starting(orch) == ["a", "b"]  # both in flight at once, c waits
    gate.set()
    await run
    assert journal.starts()[-1] == "c"
    await orch.shutdown()
    assert journal.stops()[0] == "c"


async def test_a_service_starts_as_soon_as_its_own_dependencies_are_done() -> None:
    # b depends only on fast a; slow s must not hold b back (no wave barrier).
    journal = Journal()
    slow = asyncio.Event()
    orch = Orchestrator()
    orch.use(Recorder("s", journal, gate=slow))
    orch.use(Recorder("a", journal))
    b = orch.use(Recorder("b", journal), dependencies=["a"])
    orch.use(Recorder("t", journal), dependencies=["s"])
    run = asyncio.create_task(orch.run())
    await asyncio.wait_for(b.entered.wait(), 10)
    assert journal.starts() == ["a", "b"]
    slow.set()
    await run
    assert journal.starts() == ["a", "b", "s", "t"]
    await orch.shutdown()


async def test_max_concurrency_one_is_sequential_and_deterministic() -> None:
    orders = []
    for _ in range(3):
        journal = Journal()
        orch = Orchestrator(max_concurrency=1)
        events: list[Event] = []
        orch.subscribe(events.append)
        for name, deps in [("z", []), ("y", []), ("x", ["z"]), ("w", [])]:
            orch.use(Recorder(name, journal), dependencies=deps)
        await orch.run()
        in_flight = 0
        for event in events:
            if event.state is ServiceState.STARTING:
                in_flight += 1
                assert in_flight == 1
            elif event.state in (ServiceState.READY, ServiceState.STARTED):
                in_flight -= 1
        await orch.shutdown()
        orders.append((journal.starts(), journal.stops()))
    assert orders[0] == orders[1] == orders[2]
    assert orders[0][0] == ["z", "y", "x", "w"]
    assert orders[0][1] == ["w", "x", "y", "z"]


async def test_max_concurrency_bounds_in_flight_starts() -> None:
    journal = Journal()
    gate = asyncio.Event()
    orch = Orchestrator(max_concurrency=2)
    services = [orch.use(Recorder(f"s{i}", journal, gate=gate)) for i in range(5)]
    run = asyncio.create_task(orch.run())
    await asyncio.wait_for(services[1].entered.wait(), 10)
    await asyncio.sleep(0)
    assert _starting(orch) == ["s0", "s1"]
    gate.set()
    await run
    assert sorted(journal.starts()) == [f"s{i}" for i in range(5)]
    await orch.shutdown()


async def test_higher_priority_finishes_before_lower_starts() -> None:
    journal = Journal()
    gate = asyncio.Event()
    orch = Orchestrator()
    high = orch.use(Recorder("high", journal, gate=gate), priority=5)
    low = orch.use(Recorder("low", journal), priority=1)
    run = asyncio.create_task(orch.run())
    await asyncio.wait_for(high.entered.wait(), 10)
    assert not low.entered.is_set()
    gate.set()
    await run
    assert journal.starts() == ["high", "low"]
    await orch.shutdown()
    assert journal.stops() == ["low", "high"]


async def test_start_failure_rolls_back_exactly_what_started_in_reverse() -> None:
    journal = Journal()
    hang = asyncio.Event()
    orch = Orchestrator()
    orch.use(Recorder("db", journal))
    orch.use(Recorder("cache", journal), dependencies=["db"])
    pending = orch.use(Recorder("slow", journal, gate=hang), dependencies=["db"])
    bad = orch.use(Recorder("bad", journal, fail_start=ValueError("boom")), dependencies=["cache"])
    never = orch.use(Recorder("api", journal), dependencies=["bad"])
    with pytest.raises(StartupError) as info:
        await orch.run()
    error = info.value
    assert error.services == ("bad",)
    assert isinstance(error.__cause__, ValueError)
    assert "'bad': ValueError: boom" in str(error)
    assert pending.startups == 1 and pending.shutdowns == 0  # cancelled in flight
    assert bad.shutdowns == 0 and never.startups == 0
    assert journal.stops() == ["cache", "db"]
    assert orch.state is LifecycleState.DESTROYED
    states = {r.name: r.state for r in orch.report()}
    assert states == {
        "db": ServiceState.STOPPED,
        "cache": ServiceState.STOPPED,
        "slow": ServiceState.STOPPED,
        "bad": ServiceState.FAILED,
        "api": ServiceState.PENDING,
    }


async def test_start_timeout_is_a_failure_naming_the_service() -> None:
    journal = Journal()
    orch = Orchestrator(start_timeout=30)
    orch.use(Recorder("db", journal))
    orch.use(Recorder("stuck", journal, gate=asyncio.Event()), start_timeout=0.05)
    with pytest.raises(StartupError, match="'stuck': TimeoutError: service 'stuck' did not start"):
        await orch.run()
    assert journal.stops() == ["db"]


async def test_class_level_timeout_is_used() -> None:
    class Stuck(Service):
        name = "stuck"
        start_timeout = 0.05

        async def startup(self) -> None:
            await asyncio.Event().wait()

    orch = Orchestrator()
    orch.use(Stuck())
    with pytest.raises(StartupError, match=r"within 0\.05s"):
        await orch.run()


async def test_several_failures_are_all_reported_and_chained() -> None:
    journal = Journal()
    orch = Orchestrator()
    orch.use(Recorder("a", journal, fail_start=ValueError("a broke")))
    orch.use(Recorder("b", journal, fail_start=KeyError("b broke")))
    with pytest.raises(StartupError) as info:
        await orch.run()
    assert set(info.value.services) == {"a", "b"}
    assert isinstance(info.value.__cause__, BaseExceptionGroup)


async def test_stop_failures_and_hangs_do_not_stop_the_others() -> None:
    journal = Journal()
    orch = Orchestrator(stop_timeout=30)
    orch.use(Recorder("db", journal))
    orch.use(
        Recorder("hangs", journal, stop_gate=asyncio.Event()),
        dependencies=["db"],
        stop_timeout=0.05,
    )
    orch.use(Recorder("breaks", journal, fail_stop=OSError("disk")), dependencies=["db"])
    orch.use(Recorder("api", journal), dependencies=["hangs", "breaks"])
    await orch.run()
    with pytest.raises(ShutdownError) as info:
        await orch.shutdown()
    assert set(info.value.failures) == {"hangs", "breaks"}
    assert isinstance(info.value.failures["breaks"], OSError)
    assert isinstance(info.value.failures["hangs"], TimeoutError)
    assert journal.stops() == ["api", "db"]  # db still stopped, after the others
    assert orch.state is LifecycleState.DESTROYED
    await orch.shutdown()  # idempotent afterwards


async def test_concurrent_shutdowns_wait_for_the_first_and_stop_once() -> None:
    journal = Journal()
    release = asyncio.Event()
    orch = Orchestrator()
    svc = orch.use(Recorder("db", journal, stop_gate=release))
    await orch.run()
    callers = [asyncio.create_task(orch.shutdown()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(c.done() for c in callers)
    release.set()
    await asyncio.wait_for(asyncio.gather(*callers), 10)
    assert svc.shutdowns == 1
    assert orch.state is LifecycleState.DESTROYED


async def test_background_tasks_run_after_startup_and_are_cancelled_before_stops() -> None:
    journal = Journal()
    orch = Orchestrator()
    orch.use(Recorder("db", journal))
    running = asyncio.Event()

    async def worker() -> None:
        journal.append("worker running")
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            journal.append("worker cancelled")

    async def flush() -> None:
        journal.append("flushed")

    orch.add_background_task(worker)
    orch.add_shutdown_task(flush)
    orch.add_shutdown_task(lambda: journal.append("sync task"))
    await orch.run()
    await asyncio.wait_for(running.wait(), 10)
    await orch.shutdown()
    assert journal == [
        "start db",
        "worker running",
        "worker cancelled",
        "stop db",
        "flushed",
        "sync task",
    ]


async def test_crashing_background_task_triggers_shutdown_with_exit_status_1() -> None:
    journal = Journal()
    orch = Orchestrator()
    orch.use(Recorder("db", journal))

    async def crash() -> None:
        raise RuntimeError("worker died")

    orch.add_background_task(crash)
    status = await asyncio.wait_for(orch.serve(), 10)
    assert status == 1
    assert journal.stops() == ["db"]


async def test_readiness_can_be_revoked_and_restored() -> None:
    seen: list[tuple[str | None, bool]] = []
    orch = Orchestrator()
    orch.use(Recorder("db", Journal()))
    await orch.run()
    orch.subscribe(lambda e: seen.append((e.service, e.ready)))
    assert orch.is_ready()
    orch.mark_not_ready("db")
    assert not orch.is_ready() and not orch.is_ready("db")
    waiter = asyncio.create_task(orch.wait_for_all_ready(timeout=10))
    await asyncio.sleep(0)
    assert not waiter.done()
    orch.runtime.mark_ready("db")
    await asyncio.wait_for(waiter, 10)
    assert seen == [("db", False), ("db", True)]
    await orch.shutdown()


async def test_wait_for_all_ready_gives_up_at_once_when_stopping() -> None:
    orch = Orchestrator()
    orch.use(Recorder("db", Journal()))
    await orch.run()
    await orch.shutdown()
    with pytest.raises(TimeoutError, match="DESTROYED"):
        await orch.wait_for_all_ready(timeout=30)


async def test_mark_ready_unknown_name_lists_the_known_ones() -> None:
    orch = Orchestrator()
    orch.use(Recorder("db", Journal()))
    orch.use(Recorder("api", Journal()))
    with pytest.raises(UnknownServiceError) as info:
        orch.mark_ready("dbb")
    assert isinstance(info.value, LookupError)
    assert str(info.value) == "Unknown service 'dbb'; known services: 'db', 'api'"


async def test_run_twice_and_use_after_run_are_clear_errors() -> None:
    orch = Orchestrator()
    orch.use(Recorder("db", Journal()))
    await orch.run()
    with pytest.raises(HarakaError, match=r"run\(\) is not allowed: the orchestrator is RUNNING"):
        await orch.run()
    with pytest.raises(HarakaError, match=r"use\(\) is not allowed"):
        orch.use(Recorder("late", Journal()))
    await orch.shutdown()


def test_bad_options_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be a positive integer"):
        Orchestrator(max_concurrency=0)
    with pytest.raises(ValueError, match="start_timeout must be a positive"):
        Orchestrator(start_timeout=0)
    with pytest.raises(TypeError, match=r"use\(\) takes a haraka_di\.Service"):
        Orchestrator().use(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of names"):
        Orchestrator().use(Recorder("a", Journal()), dependencies="db")


async def test_report_has_offsets_durations_and_waves() -> None:
    orch = Orchestrator()
    orch.use(Recorder("db", Journal()), priority=3)
    orch.use(Recorder("api", Journal()), dependencies=["db"])
    before = orch.report()
    assert [(r.name, r.state, r.wave) for r in before] == [
        ("db", ServiceState.PENDING, 0),
        ("api", ServiceState.PENDING, 1),
    ]
    await orch.run()
    await orch.shutdown()
    db, api = orch.report()
    assert db.start_offset is not None and api.start_offset is not None
    assert db.start_offset <= api.start_offset
    assert db.start_duration is not None and db.stop_duration is not None
    assert api.effective_priority == 0 and db.effective_priority == 3
    assert db.as_dict()["state"] == "stopped"
