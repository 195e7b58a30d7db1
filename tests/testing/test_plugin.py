"""The pytest plugin, driven through pytester (in-process: fast)."""

from __future__ import annotations

import pytest

APP = """
from dependency_injector import containers, providers
from haraka_di import Service

LOG = []


class Db(Service):
    async def startup(self):
        LOG.append("start " + self.name)

    async def shutdown(self):
        LOG.append("stop " + self.name)


class Api(Db):
    def __init__(self, db):
        super().__init__()
        self.db = db


class Other(Db):
    pass


class App(containers.DeclarativeContainer):
    db = providers.Singleton(Db)
    api = providers.Singleton(Api, db)
    other = providers.Singleton(Other)
"""


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(haraka_app=APP)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.syspathinsert()
    return pytester


def test_marker_runs_the_container_and_the_recorder_sees_the_order(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        import pytest
        from haraka_di import LifecycleState
        from haraka_di.testing import assert_started_before, assert_stopped_in_reverse
        from haraka_app import LOG, App

        @pytest.mark.asyncio
        @pytest.mark.haraka(container=App, max_concurrency=1)
        async def test_runs(haraka_orchestrator, haraka_recorder):
            assert haraka_orchestrator.state is LifecycleState.RUNNING
            assert haraka_orchestrator.handle_signals is False
            assert haraka_recorder.started == ["db", "api", "other"]
            assert_started_before(haraka_recorder, "db", "api")
            await haraka_orchestrator.shutdown()  # to assert on the stop order here
            assert_stopped_in_reverse(haraka_recorder, exact=True)

        def test_stopped_after_the_test():
            assert LOG[-3:] == ["stop other", "stop api", "stop db"]
        """
    )
    result = app.runpytest_inprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_container_fixture_overrides_fixture_and_only(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import pytest
        from haraka_di import Service
        from haraka_app import App

        class FakeDb(Service):
            pass

        @pytest.fixture
        def haraka_container():
            return App()

        @pytest.fixture
        def haraka_overrides():
            return {"db": FakeDb()}

        @pytest.mark.asyncio
        async def test_fixture_container(haraka_orchestrator):
            assert isinstance(haraka_orchestrator.services["db"], FakeDb)
            assert sorted(haraka_orchestrator.services) == ["api", "db", "other"]

        @pytest.mark.asyncio
        @pytest.mark.haraka(only=["api"], overrides={"other": object()})
        async def test_only_and_marker_overrides(haraka_orchestrator, haraka_recorder):
            assert sorted(haraka_orchestrator.services) == ["api", "db"]
            assert haraka_recorder.started == ["db", "api"]
        """
    )
    result = app.runpytest_inprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_missing_container_is_a_clear_error(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_no_container(haraka_orchestrator):
            pass

        @pytest.mark.asyncio
        @pytest.mark.haraka("positional")
        async def test_positional(haraka_orchestrator):
            pass
        """
    )
    result = app.runpytest_inprocess("-p", "no:randomly")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*define a `haraka_container` fixture returning your container*",
            "*@pytest.mark.haraka takes keyword arguments only*",
        ]
    )


def test_a_failing_test_still_stops_the_services(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import pytest
        from haraka_app import LOG, App

        @pytest.mark.asyncio
        @pytest.mark.haraka(container=App)
        async def test_fails(haraka_orchestrator):
            assert False, "the test body failed"

        def test_afterwards():
            assert sorted(LOG) == sorted(
                ["start db", "start api", "start other", "stop api", "stop db", "stop other"]
            )
        """
    )
    result = app.runpytest_inprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


def test_the_entry_point_loads_the_plugin_in_a_fresh_process(app: pytest.Pytester) -> None:
    app.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    app.makepyfile(
        """
        import pytest
        from haraka_app import App

        def test_marker_is_registered(pytestconfig):
            assert any(m.startswith("haraka(") for m in pytestconfig.getini("markers"))

        @pytest.mark.haraka(container=App)
        async def test_auto_mode(haraka_orchestrator, haraka_recorder):
            assert sorted(haraka_recorder.started) == ["api", "db", "other"]
        """
    )
    result = app.runpytest_subprocess("-p", "no:randomly", "--strict-markers")
    result.assert_outcomes(passed=2)
