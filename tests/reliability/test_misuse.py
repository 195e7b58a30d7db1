"""Fault 7: run() twice, use() after run(), mark_ready for an unknown name,
wait_for_all_ready before run() and after shutdown."""

from __future__ import annotations

import asyncio
import re

import pytest

from haraka_di import (
    HarakaError,
    LifecycleState,
    Orchestrator,
    ReadinessTimeoutError,
    UnknownServiceError,
)

from .probes import Log, Probe, calls, chain, handlers_restored, leftover_tasks, run_held

NAMES = ["db", "api"]


async def test_run_twice_is_refused_and_changes_nothing() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes = chain(orch, log, NAMES)
        await orch.run()
        with pytest.raises(HarakaError) as info:
            await orch.run()
        assert str(info.value).startswith(
            "run() is not allowed: the orchestrator is RUNNING. Register services before run()"
        )
        assert orch.state is LifecycleState.RUNNING
        assert calls(probes) == {"db": (1, 0), "api": (1, 0)}
        await orch.shutdown()
    assert calls(probes) == {"db": (1, 1), "api": (1, 1)}
    with pytest.raises(HarakaError, match="orchestrator is DESTROYED"):
        await orch.run()
    assert await leftover_tasks() == set()


async def test_run_while_starting_is_refused() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes, first, gate = await run_held(orch, log, NAMES)
        with pytest.raises(HarakaError, match="orchestrator is STARTING"):
            await orch.run()
        gate.set()
        await first
        await orch.shutdown()
    assert calls(probes) == {"db": (1, 1), "api": (1, 1)}
    assert await leftover_tasks() == set()


async def test_use_and_configure_after_run_are_refused() -> None:
    log = Log()
    orch = Orchestrator()
    with handlers_restored():
        probes = chain(orch, log, NAMES)
        await orch.run()
        late = Probe("late", log)
        with pytest.raises(
            HarakaError, match=r"use\(\) is not allowed: the orchestrator is RUNNING"
        ):
            orch.use(late)
        with pytest.raises(HarakaError, match=r"configure\(\) is not allowed"):
            orch.configure("db", priority=3)
        await orch.shutdown()
    assert late.startups == late.shutdowns == 0
    assert "late" not in orch.services
    assert calls(probes) == {"db": (1, 1), "api": (1, 1)}
    assert await leftover_tasks() == set()


async def test_mark_ready_for_an_unknown_name_lists_the_known_ones() -> None:
    orch = Orchestrator()
    chain(orch, Log(), NAMES)
    message = "Unknown service 'dbb'; known services: 'db', 'api'"
    with pytest.raises(UnknownServiceError) as before:
        orch.mark_ready("dbb")
    assert str(before.value) == message
    assert isinstance(before.value, LookupError)
    with handlers_restored():
        await orch.run()
        with pytest.raises(UnknownServiceError) as during:
            orch.runtime.mark_ready("dbb")
        assert str(during.value) == message
        with pytest.raises(UnknownServiceError):
            orch.mark_not_ready("dbb")
        assert orch.is_ready()
        await orch.shutdown()
    with pytest.raises(UnknownServiceError, match=re.escape(message)):
        orch.mark_ready("dbb")
    assert await leftover_tasks() == set()


async def test_wait_for_all_ready_before_run_times_out_naming_the_services() -> None:
    orch = Orchestrator()
    chain(orch, Log(), NAMES)
    with pytest.raises(ReadinessTimeoutError) as info:
        await orch.wait_for_all_ready(timeout=0.01)
    assert str(info.value) == "Services not ready within 0.01s: db, api (orchestrator is CREATED)"
    assert info.value.not_ready == ("db", "api")
    assert info.value.state is LifecycleState.CREATED
    assert isinstance(info.value, TimeoutError)
    assert await leftover_tasks() == set()


async def test_wait_for_all_ready_before_run_returns_once_run_made_everything_ready() -> None:
    orch = Orchestrator()
    probes = chain(orch, Log(), NAMES)
    with handlers_restored():
        waiter = asyncio.create_task(orch.wait_for_all_ready(timeout=30))
        await asyncio.sleep(0)
        assert not waiter.done()
        await orch.run()
        await asyncio.wait_for(waiter, 10)
        await orch.shutdown()
    assert calls(probes) == {"db": (1, 1), "api": (1, 1)}
    assert await leftover_tasks() == set()


async def test_wait_for_all_ready_after_shutdown_raises_at_once() -> None:
    orch = Orchestrator()
    chain(orch, Log(), NAMES)
    with handlers_restored():
        await orch.run()
        await orch.wait_for_all_ready(timeout=1)
        await orch.shutdown()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(ReadinessTimeoutError) as info:
        await orch.wait_for_all_ready(timeout=30)
    assert loop.time() - t0 < 5
    assert str(info.value) == "Services not ready now: db, api (orchestrator is DESTROYED)"
    assert info.value.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_wait_for_all_ready_is_released_by_a_shutdown() -> None:
    orch = Orchestrator()
    log = Log()
    with handlers_restored():
        orch.use(Probe("db", log))
        orch.use(Probe("slow", log))
        await orch.run()
        orch.mark_not_ready("slow")
        waiter = asyncio.create_task(orch.wait_for_all_ready(timeout=30))
        await asyncio.sleep(0)
        await orch.shutdown()
        with pytest.raises(ReadinessTimeoutError, match="not ready now: db, slow"):
            await asyncio.wait_for(waiter, 10)
    assert await leftover_tasks() == set()
