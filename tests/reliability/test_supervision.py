"""Fault 8: a background task crashes under each restart policy."""

from __future__ import annotations

import asyncio
import logging

import pytest

from haraka_di import LifecycleState, Orchestrator, RestartPolicy, Service, StartupError

from .probes import Log, calls, chain, handlers_restored, leftover_tasks

NAMES = ["db", "api"]
FAST = RestartPolicy(backoff=0.001, max_backoff=0.004, max_restarts=3, window=60)


class Crashes:
    """An async callable that crashes its first ``n`` calls, then waits
    (forever, until cancelled) or returns."""

    def __init__(self, n: int, *, then: str = "wait") -> None:
        self.n = n
        self.then = then
        self.calls = 0
        self.waiting = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.n:
            raise ValueError(f"crash {self.calls}")
        if self.then == "wait":
            self.waiting.set()
            await asyncio.Event().wait()


def task(orch: Orchestrator, name: str) -> dict[str, object]:
    (report,) = [t.as_dict() for t in orch.task_report() if t.name == name]
    return report


async def test_never_crash_shuts_down_gracefully_with_exit_status_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, NAMES)
    worker = Crashes(1)
    orch.add_background_task(worker, name="worker")
    with handlers_restored():
        status = await asyncio.wait_for(orch.serve(), 10)
    assert status == 1
    assert worker.calls == 1
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert log.stopped() == ["api", "db"]
    assert orch.state is LifecycleState.DESTROYED
    assert task(orch, "worker") == {
        "name": "worker",
        "service": None,
        "restart": "never",
        "state": "crashed",
        "crashes": 1,
        "restarts": 0,
        "last_error": "ValueError('crash 1')",
    }
    assert "background task 'worker' crashed: shutting down" in caplog.text
    assert await leftover_tasks() == set()


async def test_ignore_crash_is_logged_and_everything_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, NAMES)
    worker = Crashes(1, then="return")
    done = asyncio.Event()
    orch.add_background_task(worker, name="worker", restart="ignore")

    async def marker() -> None:
        done.set()

    with handlers_restored():
        await orch.run()
        orch.spawn(marker)
        await done.wait()
        for _ in range(5):
            await asyncio.sleep(0)
        assert orch.state is LifecycleState.RUNNING
        assert task(orch, "worker")["state"] == "crashed"
        assert orch.is_ready()
        await orch.shutdown()
    assert orch.exit_code == 0
    assert worker.calls == 1
    assert task(orch, "worker")["crashes"] == 1
    assert task(orch, "worker")["restarts"] == 0
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert "background task 'worker' crashed (ignored)" in caplog.text
    assert await leftover_tasks() == set()


async def test_on_failure_restarts_with_exponential_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="haraka_di")
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, NAMES)
    worker = Crashes(3)
    orch.add_background_task(worker, name="worker", restart=FAST)
    with handlers_restored():
        await orch.run()
        await asyncio.wait_for(worker.waiting.wait(), 10)
        assert orch.state is LifecycleState.RUNNING
        assert task(orch, "worker") == {
            "name": "worker",
            "service": None,
            "restart": "on-failure",
            "state": "running",
            "crashes": 3,
            "restarts": 3,
            "last_error": "ValueError('crash 3')",
        }
        await orch.shutdown()
    assert worker.calls == 4
    assert task(orch, "worker")["state"] == "cancelled"
    assert orch.exit_code == 0
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    # backoff doubles from 1 ms and is capped at 4 ms
    for n, delay in ((1, "0.00"), (2, "0.00"), (3, "0.00")):
        assert f"background task 'worker' crashed; restart {n} in {delay}s" in caplog.text
    for n in (1, 2, 3):
        assert f"background task 'worker' restarted (restart {n})" in caplog.text
    assert await leftover_tasks() == set()


def test_backoff_doubles_and_is_capped() -> None:
    policy = RestartPolicy(backoff=0.5, max_backoff=3.0)
    assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_on_failure_out_of_restarts_within_the_window_shuts_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = Log()
    orch = Orchestrator()
    probes = chain(orch, log, NAMES)
    worker = Crashes(1000)
    orch.add_background_task(worker, name="worker", restart=FAST)
    with handlers_restored():
        status = await asyncio.wait_for(orch.serve(), 10)
    assert status == 1
    assert worker.calls == 4  # the first run and 3 restarts
    report = task(orch, "worker")
    assert (report["crashes"], report["restarts"], report["state"]) == (4, 3, "crashed")
    assert (
        "background task 'worker' crashed after 3 restart(s) within 60s; giving up: shutting down"
        in caplog.text
    )
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


async def test_restarts_older_than_the_window_do_not_count() -> None:
    orch = Orchestrator()
    probes = chain(orch, Log(), NAMES)
    calls_at: list[float] = []
    finished = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def flaky() -> None:
        calls_at.append(loop.time())
        if len(calls_at) == 3:
            finished.set()
            return
        if len(calls_at) == 2:
            await asyncio.sleep(0.06)  # crash again only after the window passed
        raise ValueError("flaky")

    policy = RestartPolicy(backoff=0, max_restarts=1, window=0.05)
    orch.add_background_task(flaky, name="flaky", restart=policy)
    with handlers_restored():
        await orch.run()
        await asyncio.wait_for(finished.wait(), 10)
        assert orch.state is LifecycleState.RUNNING
        await orch.shutdown()
    report = task(orch, "flaky")
    assert (report["crashes"], report["restarts"], report["state"]) == (2, 2, "finished")
    assert orch.exit_code == 0
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert await leftover_tasks() == set()


class Spawner(Service):
    """Spawns an on-failure task from its startup(): the task is its own."""

    def __init__(self, name: str, worker: Crashes) -> None:
        super().__init__()
        self.name = name
        self.worker = worker

    async def startup(self) -> None:
        self.runtime.spawn(self.worker, name="poller", restart=FAST)


async def test_task_spawned_by_a_service_is_counted_in_its_report_row(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orch = Orchestrator()
    worker = Crashes(2)
    orch.use(Spawner("feed", worker))
    with handlers_restored():
        await orch.run()
        await asyncio.wait_for(worker.waiting.wait(), 10)
        (row,) = orch.report()
        assert (row.name, row.crashes, row.restarts) == ("feed", 2, 2)
        assert row.as_dict()["crashes"] == 2
        assert task(orch, "poller")["service"] == "feed"
        await orch.shutdown()
    assert "background task 'poller' of service 'feed' crashed; restart 1" in caplog.text
    assert await leftover_tasks() == set()


async def test_task_named_like_a_service_is_counted_in_its_row() -> None:
    orch = Orchestrator()
    chain(orch, Log(), NAMES)
    worker = Crashes(1)
    orch.add_background_task(worker, name="api", restart=FAST)
    with handlers_restored():
        await orch.run()
        await asyncio.wait_for(worker.waiting.wait(), 10)
        rows = {r.name: (r.crashes, r.restarts) for r in orch.report()}
        await orch.shutdown()
    assert rows == {"db": (0, 0), "api": (1, 1)}
    assert await leftover_tasks() == set()


async def test_never_crash_during_startup_rolls_the_startup_back() -> None:
    log = Log()
    orch = Orchestrator()
    gate = asyncio.Event()

    probes = chain(orch, log, NAMES, api={"start_gate": gate})

    class Early(Service):
        async def startup(self) -> None:
            async def boom() -> None:
                await probes["api"].entered_start.wait()
                raise OSError("lost connection")

            self.runtime.spawn(boom, name="listener")

    orch.use(Early())
    with handlers_restored(), pytest.raises(StartupError) as info:
        await orch.run()
    assert str(info.value).startswith(
        "Startup interrupted by the crash of background task 'listener' "
        "(OSError('lost connection')). Stopped the"
    )
    assert orch.exit_code == 1
    assert calls(probes) == {"db": (1, 1), "api": (1, 0)}
    assert orch.state is LifecycleState.DESTROYED
    assert await leftover_tasks() == set()


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(2)])
async def test_base_exception_in_a_background_task_is_a_crash(error: BaseException) -> None:
    orch = Orchestrator()
    probes = chain(orch, Log(), NAMES)

    async def bad() -> None:
        raise error

    orch.add_background_task(bad, name="bad")
    with handlers_restored():
        status = await asyncio.wait_for(orch.serve(), 10)
    assert status == 1
    assert task(orch, "bad")["last_error"] == repr(error)
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert await leftover_tasks() == set()


async def test_task_waiting_to_restart_is_cancelled_at_shutdown() -> None:
    orch = Orchestrator()
    chain(orch, Log(), NAMES)
    worker = Crashes(1)
    orch.add_background_task(worker, name="w", restart=RestartPolicy(backoff=60, max_backoff=60))
    with handlers_restored():
        await orch.run()
        for _ in range(10):
            await asyncio.sleep(0)
        assert task(orch, "w")["state"] == "backoff"
        await asyncio.wait_for(orch.shutdown(), 10)
    assert (task(orch, "w")["state"], worker.calls) == ("cancelled", 1)
    assert await leftover_tasks() == set()


async def test_tasks_sharing_a_name_are_kept_apart() -> None:
    orch = Orchestrator()

    async def idle() -> None:
        await asyncio.Event().wait()

    orch.add_background_task(idle, name="w", restart="ignore")
    orch.add_background_task(idle, name="w", restart="never")
    orch.add_background_task(idle)
    with handlers_restored():
        await orch.run()
        await orch.shutdown()
    got = [(t.name, t.restart, t.state) for t in orch.task_report()]
    assert got == [
        ("w", "ignore", "cancelled"),
        ("w#2", "never", "cancelled"),
        ("test_tasks_sharing_a_name_are_kept_apart.<locals>.idle", "never", "cancelled"),
    ]
    assert await leftover_tasks() == set()


async def test_bad_restart_policies_are_refused_up_front() -> None:
    orch = Orchestrator()

    async def job() -> None:
        pass

    with pytest.raises(ValueError, match="Unknown restart policy 'always'; use one of 'never'"):
        orch.add_background_task(job, restart="always")
    with pytest.raises(TypeError, match="must be an async callable"):
        orch.add_background_task("job", restart="never")  # type: ignore[arg-type]
    coro = job()
    with pytest.raises(ValueError, match="pass the function, not a coroutine object"):
        orch.spawn(coro, restart="on-failure")
    coro.close()
    with pytest.raises(ValueError, match="max_restarts must be an integer >= 0"):
        RestartPolicy(max_restarts=-1)
    with pytest.raises(ValueError, match="backoff <= max_backoff"):
        RestartPolicy(backoff=5, max_backoff=1)
    with pytest.raises(ValueError, match="window must be a positive"):
        RestartPolicy(window=0)
    assert orch.task_report() == []


async def test_sync_callable_is_a_crash_with_a_clear_message() -> None:
    orch = Orchestrator()
    chain(orch, Log(), NAMES)
    orch.add_background_task(lambda: None, name="sync")  # type: ignore[arg-type,return-value]
    with handlers_restored():
        status = await asyncio.wait_for(orch.serve(), 10)
    assert status == 1
    assert "must be an async callable; it returned None" in str(task(orch, "sync")["last_error"])
    assert await leftover_tasks() == set()


async def test_task_ignoring_cancellation_is_left_behind_after_cancel_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orch = Orchestrator(cancel_grace=0.05)
    probes = chain(orch, Log(), NAMES)
    release = asyncio.Event()

    async def deaf() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()

    orch.add_background_task(deaf, name="deaf")
    with handlers_restored():
        await orch.run()
        await asyncio.sleep(0)
        await asyncio.wait_for(orch.shutdown(), 10)
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert "background task 'deaf' ignored its cancellation for 0.1s; left behind" in caplog.text
    left = await leftover_tasks()
    assert [t.get_name() for t in left] == ["deaf"]
    release.set()
    await asyncio.wait(left, timeout=5)
    assert await leftover_tasks() == set()


async def test_task_leaking_its_own_cancelled_error_is_a_crash() -> None:
    orch = Orchestrator()
    probes = chain(orch, Log(), NAMES)

    async def leaky() -> None:
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future  # CancelledError, though nobody cancelled this task

    orch.add_background_task(leaky, name="leaky")
    with handlers_restored():
        status = await asyncio.wait_for(orch.serve(), 10)
    assert status == 1
    report = task(orch, "leaky")
    assert (report["state"], report["crashes"]) == ("crashed", 1)
    assert report["last_error"] is not None and "CancelledError" in str(report["last_error"])
    assert calls(probes) == {n: (1, 1) for n in NAMES}
    assert await leftover_tasks() == set()
