"""Faults 1-3 and 9: startup() raises, hangs, ignores cancellation, fails in
several services at once, or raises KeyboardInterrupt / a BaseException."""

from __future__ import annotations

import asyncio

import pytest

from haraka_di import LifecycleState, Orchestrator, ServiceState, StartupError

from .probes import Log, Probe, calls, chain, handlers_restored, leftover_tasks

NAMES = ["first", "middle", "last"]


@pytest.mark.parametrize("failing", NAMES)
async def test_startup_raises_in_first_middle_or_last_wave(failing: str) -> None:
    log = Log()
    orch = Orchestrator()
    boom = ValueError(f"{failing} is broken")
    with handlers_restored():
        probes = chain(orch, log, NAMES, **{failing: {"start_fault": boom}})
        with pytest.raises(StartupError) as info:
            await orch.run()
    at = NAMES.index(failing)
    started = NAMES[:at]
    assert calls(probes) == {
        n: (1 if i <= at else 0, 1 if i < at else 0) for i, n in enumerate(NAMES)
    }
    assert log.stopped() == started[::-1]
    assert orch.state is LifecycleState.DESTROYED
    assert orch.exit_code == 1
    assert str(info.value) == (
        f"Startup failed: {failing!r}: ValueError: {failing} is broken. "
        f"Stopped the {at} service(s) that had started."
    )
    assert info.value.failures == {failing: boom}
    assert info.value.__cause__ is boom
    assert info.value.signal is None
    assert orch.services[failing] is probes[failing]
    states = {r.name: r.state for r in orch.report()}
    assert states[failing] is ServiceState.FAILED
    assert {states[n] for n in started} <= {ServiceState.STOPPED}
    assert await leftover_tasks() == set()


@pytest.mark.parametrize("concurrency", [None, 1, 2])
async def test_failure_in_a_wide_graph_stops_exactly_what_started(concurrency: int | None) -> None:
    # wave 0: a1 a2 a3; wave 1: b (needs a1 a2 a3) and c (needs a3); wave 2: d (needs b c)
    log = Log()
    orch = Orchestrator(max_concurrency=concurrency)
    probes = {n: Probe(n, log) for n in ["a1", "a2", "a3", "b", "c", "d"]}
    probes["c"].start_fault = OSError("port taken")
    for n in ("a1", "a2", "a3"):
        orch.use(probes[n])
    orch.use(probes["b"], dependencies=["a1", "a2", "a3"])
    orch.use(probes["c"], dependencies=["a3"])
    orch.use(probes["d"], dependencies=["b", "c"])
    with handlers_restored(), pytest.raises(StartupError, match="'c': OSError: port taken"):
        await orch.run()
    started = set(log.started())
    assert "c" not in started and "d" not in started
    for name, probe in probes.items():
        assert probe.startups <= 1
        assert probe.shutdowns == (1 if name in started else 0), name
    assert probes["d"].startups == 0
    # stop mirrors start: b (a dependent) stops before a1/a2/a3
    stops = log.stopped()
    if "b" in stops:
        assert all(stops.index("b") < stops.index(a) for a in ("a1", "a2", "a3"))
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_startup_hanging_past_its_timeout_is_cancelled_and_reported() -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, ["db", "api", "web"], api={"start_fault": "hang"})
    orch.configure("api", start_timeout=0.05)
    with handlers_restored(), pytest.raises(StartupError) as info:
        await orch.run()
    assert calls(probes) == {"db": (1, 1), "api": (1, 0), "web": (0, 0)}
    assert str(info.value) == (
        "Startup failed: 'api': TimeoutError: service 'api' did not start within 0.05s. "
        "Stopped the 1 service(s) that had started."
    )
    assert isinstance(info.value.__cause__, TimeoutError)
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_startup_ignoring_cancellation_is_abandoned_after_cancel_grace() -> None:
    log = Log()
    orch = Orchestrator(cancel_grace=0.05)
    probes = chain(orch, log, ["db", "api"], api={"start_fault": "stubborn"})
    orch.configure("api", start_timeout=0.05)
    with handlers_restored(), pytest.raises(StartupError) as info:
        await orch.run()
    assert calls(probes) == {"db": (1, 1), "api": (1, 0)}
    assert "ignored-cancel api" in log.lines
    assert str(info.value) == (
        "Startup failed: 'api': TimeoutError: service 'api' did not start within 0.05s "
        "and ignored its cancellation. Stopped the 1 service(s) that had started."
    )
    assert orch.state is LifecycleState.DESTROYED
    # The stubborn startup is the one task left behind (it is cancelled
    # again and again, and ignores each) until it lets go. When it then
    # returns, the service is running after all, so it is stopped at once.
    left = await leftover_tasks()
    assert [t.get_name() for t in left] == ["haraka:api"]
    assert probes["api"].shutdowns == 0
    probes["api"].release.set()
    await asyncio.wait(left, timeout=5)
    await asyncio.wait_for(probes["api"].entered_stop.wait(), 5)
    assert calls(probes) == {"db": (1, 1), "api": (1, 1)}
    assert log.stopped() == ["db", "api"]
    assert await leftover_tasks() == set()


async def test_concurrent_failures_in_one_wave_are_all_reported() -> None:
    log = Log()
    orch = Orchestrator()
    gate = asyncio.Event()
    base = orch.use(Probe("base", log))
    errors = {n: RuntimeError(f"{n} down") for n in ("x", "y", "z")}
    probes = {"base": base}
    for n, err in errors.items():
        probes[n] = orch.use(Probe(n, log, start_gate=gate, start_fault=err), dependencies=["base"])
    probes["ok"] = orch.use(Probe("ok", log, start_gate=gate), dependencies=["base"])

    async def open_gate() -> None:
        await asyncio.gather(*(probes[n].entered_start.wait() for n in ("x", "y", "z", "ok")))
        gate.set()

    opener = asyncio.create_task(open_gate())
    with handlers_restored(), pytest.raises(StartupError) as info:
        await orch.run()
    await opener
    assert info.value.failures == errors
    assert info.value.services == ("x", "y", "z")
    for n in errors:
        assert f"{n!r}: RuntimeError: {n} down" in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, BaseExceptionGroup)
    assert list(cause.exceptions) == list(errors.values())
    assert calls(probes) == {"base": (1, 1), "x": (1, 0), "y": (1, 0), "z": (1, 0), "ok": (1, 1)}
    assert log.stopped() == ["ok", "base"]
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


@pytest.mark.parametrize(
    "error",
    [KeyboardInterrupt(), SystemExit(3), GeneratorExit(), type("Odd", (BaseException,), {})()],
)
async def test_base_exception_in_startup_rolls_back_and_is_chained(error: BaseException) -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, ["db", "api", "web"], api={"start_fault": error})
    with handlers_restored(), pytest.raises(StartupError) as info:
        await orch.run()
    assert calls(probes) == {"db": (1, 1), "api": (1, 0), "web": (0, 0)}
    assert info.value.__cause__ is error
    assert info.value.failures == {"api": error}
    assert str(info.value).startswith(f"Startup failed: 'api': {type(error).__name__}")
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_base_exception_in_shutdown_is_reported_and_the_rest_stop() -> None:
    from haraka_di import ShutdownError

    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, ["db", "api", "web"], api={"stop_fault": KeyboardInterrupt()})
    with handlers_restored():
        await orch.run()
        with pytest.raises(ShutdownError) as info:
            await orch.shutdown()
    assert calls(probes) == {n: (1, 1) for n in probes}
    assert log.stopped() == ["web", "db"]
    assert list(info.value.failures) == ["api"]
    assert isinstance(info.value.failures["api"].__cause__, KeyboardInterrupt)
    assert orch.state is LifecycleState.DESTROYED
    assert orch.exit_code == 1
    assert await leftover_tasks() == set()


async def test_startup_raising_cancelled_error_by_itself_is_a_failure() -> None:
    # A library inside startup() may leak a CancelledError nobody asked for:
    # that start failed, it must not pass for "started" or "stopped".
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, ["db", "api", "web"], api={"start_fault": asyncio.CancelledError()})
    with handlers_restored(), pytest.raises(StartupError) as info:
        await orch.run()
    assert calls(probes) == {"db": (1, 1), "api": (1, 0), "web": (0, 0)}
    assert info.value.services == ("api",)
    assert "CancelledError" in str(info.value)
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_base_exception_in_shutdown_tasks_is_recorded_and_the_next_still_run() -> None:
    from haraka_di import ShutdownError

    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, ["db", "api"])
    ran: list[str] = []

    async def interrupted() -> None:
        raise KeyboardInterrupt

    def exiting() -> None:
        raise SystemExit(3)

    orch.add_shutdown_task(interrupted)
    orch.add_shutdown_task(exiting)
    orch.add_shutdown_task(lambda: ran.append("last"))
    with handlers_restored():
        await orch.run()
        with pytest.raises(ShutdownError) as info:
            await orch.shutdown()
    assert ran == ["last"]
    assert calls(probes) == {"db": (1, 1), "api": (1, 1)}
    causes = [e.__cause__ for e in info.value.failures.values()]
    assert [type(c) for c in causes] == [KeyboardInterrupt, SystemExit]
    assert all(isinstance(e, RuntimeError) for e in info.value.exceptions)
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()
