"""Recorder and the ordering assertions: they pass on real runs and fail clearly."""

from __future__ import annotations

import pytest

from haraka_di import Event, LifecycleState, Orchestrator, Service, ServiceState
from haraka_di.testing import (
    Recorder,
    assert_started_before,
    assert_started_in_order,
    assert_stopped_before,
    assert_stopped_in_reverse,
    run_services,
)

from .app import Journal, application


def feed(recorder: Recorder, *changes: tuple[str, ServiceState]) -> Recorder:
    for name, state in changes:
        recorder(Event(name, state, state is ServiceState.READY, LifecycleState.RUNNING))
    return recorder


S = ServiceState


async def test_a_real_run_passes_every_assertion() -> None:
    recorder = Recorder()
    async with run_services(application(Journal()), recorder=recorder):
        assert_started_before(recorder, "infra.db", "api")
        assert_started_before(recorder, "infra.cache", "api")
        assert_started_in_order(recorder, ["infra.db", "worker"])
    assert_stopped_before(recorder, "api", "infra.db")
    assert_stopped_in_reverse(recorder)
    assert recorder.failed == []


async def test_exact_reverse_holds_when_starts_are_sequential() -> None:
    recorder = Recorder()
    async with run_services(application(Journal()), recorder=recorder, max_concurrency=1):
        pass
    assert recorder.started == ["infra.db", "infra.cache", "api", "worker"]
    assert_stopped_in_reverse(recorder, exact=True)


async def test_priorities_are_part_of_the_mirror() -> None:
    class Low(Service):
        name = "low"

    class High(Service):
        name = "high"
        priority = 5

    orch = Orchestrator(handle_signals=False)
    orch.use(Low())
    orch.use(High())
    recorder = Recorder().attach(orch)
    async with orch.running():
        assert_started_before(recorder, "high", "low")
    assert_stopped_in_reverse(recorder)
    # a recorder that saw high stop first contradicts the priorities
    wrong = feed(Recorder().attach(orch), *((n, s) for n, s in recorder.timeline[:4]))
    feed(wrong, ("high", S.STOPPING), ("high", S.STOPPED), ("low", S.STOPPING), ("low", S.STOPPED))
    with pytest.raises(AssertionError, match="expected 'low' to have stopped before 'high'"):
        assert_stopped_in_reverse(wrong)


def test_readiness_only_events_do_not_repeat_the_state() -> None:
    recorder = feed(Recorder(), ("db", S.STARTING), ("db", S.STARTING), ("db", S.READY))
    assert recorder.timeline == [("db", S.STARTING), ("db", S.READY)]
    assert recorder.starting == ["db"]
    assert recorder.started == ["db"]
    assert len(recorder.events) == 3


def test_started_before_fails_with_the_timeline() -> None:
    recorder = feed(
        Recorder(),
        ("db", S.STARTING),
        ("api", S.STARTING),
        ("db", S.READY),
        ("api", S.READY),
    )
    with pytest.raises(AssertionError) as info:
        assert_started_before(recorder, "db", "api")
    message = str(info.value)
    assert "expected 'db' to have started before 'api' began starting" in message
    assert "'api' began starting at #1 and 'db' started at #2" in message
    assert "recorded timeline:\n    0 db: starting\n    1 api: starting" in message


def test_started_before_names_a_service_that_never_started() -> None:
    recorder = feed(Recorder(), ("api", S.STARTING), ("api", S.READY))
    with pytest.raises(AssertionError, match="but 'db' never started"):
        assert_started_before(recorder, "db", "api")
    with pytest.raises(AssertionError, match="but 'cache' never began starting"):
        assert_started_before(recorder, "api", "cache")
    with pytest.raises(AssertionError, match=r"\(nothing recorded\)"):
        assert_started_in_order(Recorder(), ["a", "b"])


def test_stopped_before_and_in_reverse_fail_clearly() -> None:
    recorder = feed(
        Recorder(),
        ("db", S.STARTING),
        ("db", S.READY),
        ("api", S.STARTING),
        ("api", S.READY),
        ("db", S.STOPPING),
        ("db", S.STOPPED),
        ("api", S.STOPPING),
        ("api", S.STOPPED),
    )
    with pytest.raises(AssertionError, match="expected 'api' to have stopped before 'db' began"):
        assert_stopped_before(recorder, "api", "db")
    with pytest.raises(AssertionError, match=r"reversed start order \['api', 'db'\], got"):
        assert_stopped_in_reverse(recorder, exact=True)
    with pytest.raises(ValueError, match=r"recorder\.attach\(orchestrator\)"):
        assert_stopped_in_reverse(recorder)
    with pytest.raises(AssertionError, match="but 'x' never stopped"):
        assert_stopped_before(recorder, "x", "db")
    with pytest.raises(AssertionError, match="but 'x' never began stopping"):
        assert_stopped_before(recorder, "db", "x")


def test_a_service_left_running_is_reported() -> None:
    recorder = feed(Recorder(), ("db", S.STARTING), ("db", S.READY), ("api", S.STARTED))
    with pytest.raises(
        AssertionError,
        match=r"started but never stopped: \['db', 'api'\] \(now db: ready, api: started\)",
    ):
        assert_stopped_in_reverse(recorder, exact=True)


async def test_detach_stops_recording() -> None:
    orch = Orchestrator(handle_signals=False)
    orch.use(Service())
    recorder = Recorder().attach(orch)
    recorder.detach()
    async with orch.running():
        pass
    assert recorder.events == []
    assert "Recorder started=[] stopped=[]" in repr(recorder)
