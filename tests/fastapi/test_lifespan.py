"""lifespan(): uvicorn drives it, the orchestrator runs the services."""

from __future__ import annotations

import logging
import signal
from typing import Any

import pytest
from dependency_injector import containers, providers
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haraka_di import LifecycleState, Orchestrator, ServiceState
from haraka_di.fastapi import UvicornService, lifespan

from .support import Journal, Recorder, UvicornExited, free_port, listening, serving


def make_container(journal: Journal, *, fail: str = "") -> type[containers.DeclarativeContainer]:
    class Container(containers.DeclarativeContainer):
        log = providers.Object(journal)
        db = providers.Singleton(Recorder, log, fail=fail == "db")
        cache = providers.Singleton(Recorder, log, db, fail=fail == "cache")
        api = providers.Singleton(Recorder, log, cache, fail=fail == "api")

    return Container


async def test_services_run_for_the_app_and_stop_in_reverse_after_it() -> None:
    journal = Journal()
    app = FastAPI(lifespan=lifespan(make_container(journal)))
    seen: dict[str, Any] = {}

    @app.get("/state")
    async def state() -> dict[str, Any]:
        orch = app.state.orchestrator
        seen["orchestrator"] = orch
        seen["handler"] = signal.getsignal(signal.SIGTERM)
        return {"state": orch.state.value, "services": sorted(orch.services)}

    async with serving(app) as (server, client):
        assert journal.starts() == ["db", "cache", "api"]  # all started before serving
        response = await client.get("/state")
        assert response.json() == {"state": "running", "services": ["api", "cache", "db"]}
        # uvicorn still owns SIGTERM: the orchestrator installed no handler of its own
        assert seen["handler"] == server.handle_exit
        assert app.state.container is seen["orchestrator"].container
    assert journal.stops() == ["api", "cache", "db"]
    assert seen["orchestrator"].state is LifecycleState.DESTROYED


async def test_startup_failure_means_the_app_never_serves() -> None:
    journal = Journal()
    app = FastAPI(lifespan=lifespan(make_container(journal, fail="cache")))
    with pytest.raises(UvicornExited) as failed:
        async with serving(app):
            raise AssertionError("the app served although a service failed to start")
    assert failed.value.code not in (0, None)
    assert journal.starts() == ["db"]
    assert journal.stops() == ["db"]  # what had started was stopped
    report = {r.name: r.state for r in app.state.orchestrator.report()}
    assert report["cache"] is ServiceState.FAILED


async def test_startup_failure_error_names_the_service(capfd: pytest.CaptureFixture[str]) -> None:
    app = FastAPI(lifespan=lifespan(make_container(Journal(), fail="api")))
    with pytest.raises(UvicornExited):
        async with serving(app):
            pass
    # uvicorn logs the lifespan's StartupError (its own handler, on stderr)
    err = capfd.readouterr().err
    assert "StartupError: Startup failed: 'api': RuntimeError: api cannot connect" in err
    assert "Application startup failed. Exiting." in err


async def test_a_container_instance_and_its_overrides_are_used() -> None:
    journal = Journal()
    container = make_container(journal)()
    fake = Recorder(journal)
    container.cache.override(providers.Object(fake))
    app = FastAPI(lifespan=lifespan(container, max_concurrency=1))
    async with serving(app):
        assert app.state.container is container
        assert app.state.orchestrator.services["cache"] is fake
        assert app.state.orchestrator.max_concurrency == 1
        assert app.state.orchestrator.handle_signals is False
    assert journal.stops() == ["api", "cache", "db"]


async def test_each_app_run_gets_a_fresh_orchestrator() -> None:
    journal = Journal()
    app = FastAPI(lifespan=lifespan(make_container(journal)))
    async with serving(app):
        first = app.state.orchestrator
    async with serving(app):
        assert app.state.orchestrator is not first
        assert app.state.orchestrator.state is LifecycleState.RUNNING
    assert journal.starts() == ["db", "cache", "api"] * 2


async def test_the_lifespan_stands_down_when_a_uvicorn_service_serves_the_app() -> None:
    journal = Journal()
    Container = make_container(journal)
    app = FastAPI(lifespan=lifespan(Container))
    orchestrator = Orchestrator(Container, handle_signals=False)
    server = orchestrator.use(UvicornService(app, port=0, log_level="warning"))
    async with orchestrator.running():
        assert app.state.orchestrator is orchestrator  # not a second orchestrator
        assert isinstance(server, UvicornService)
        assert listening(server.port)
    assert journal.starts() == ["db", "cache", "api"]  # once, not twice
    assert journal.stops() == ["api", "cache", "db"]


def test_lifespan_refuses_to_handle_signals() -> None:
    with pytest.raises(ValueError, match="uvicorn never exits"):
        lifespan(make_container(Journal()), handle_signals=True)


def test_lifespan_checks_its_arguments_up_front() -> None:
    with pytest.raises(TypeError, match="takes a dependency-injector container"):
        lifespan(object())
    with pytest.raises(
        TypeError, match=r"lifespan\(\) got unknown option\(s\) \['no_such_option'\]"
    ):
        lifespan(make_container(Journal()), no_such_option=1)
    with pytest.raises(ValueError, match="max_concurrency must be a positive integer or None"):
        lifespan(make_container(Journal()), max_concurrency=0)
    with pytest.raises(ValueError, match="drain_seconds must be a number of seconds >= 0"):
        lifespan(make_container(Journal()), drain_seconds=-1)
    lifespan(make_container(Journal()), handle_signals=False)  # saying it is fine


async def test_startup_failure_leaves_nothing_listening() -> None:
    app = FastAPI(lifespan=lifespan(make_container(Journal(), fail="db")))
    port = free_port()
    with pytest.raises(UvicornExited):
        async with serving(app, port=port):
            raise AssertionError("served although db failed")
    assert not listening(port)


@pytest.mark.parametrize("same_app", [True, False], ids=["its-own-app", "another-app"])
def test_under_the_lifespan_a_uvicorn_service_stands_down(
    same_app: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # issue 14: it started a second uvicorn ("address already in use" under
    # uvicorn main:app; port 8000 silently opened under TestClient)
    caplog.set_level(logging.INFO, "haraka_di")
    journal, port = Journal(), free_port()

    class Container(make_container(journal)):  # type: ignore[misc]
        web = providers.Singleton(FastAPI)
        http = providers.Singleton(UvicornService, web, port=port)

    container = Container()
    app = FastAPI(lifespan=lifespan(container))
    if same_app:
        container.web.override(providers.Object(app))

    @app.get("/services")
    async def services() -> dict[str, str]:
        return {r.name: r.state.value for r in app.state.orchestrator.report()}

    with TestClient(app) as client:
        assert not listening(port)
        assert client.get("/services").json() == {
            "db": "ready",
            "cache": "ready",
            "api": "ready",
            "http": "ready",  # counts as started and ready
        }
        assert app.state.orchestrator.is_ready()
        web = container.web()
        assert web.state.container is container  # provide() works on its app too
    assert not listening(port)
    assert journal.starts() == ["db", "cache", "api"]
    assert journal.stops() == ["api", "cache", "db"]
    lines = [r.getMessage() for r in caplog.records if "stands down" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("<UvicornService 'http' http://127.0.0.1:")
    assert "no second server is started" in lines[0]
    assert [r.levelno for r in caplog.records if "stands down" in r.getMessage()] == [logging.INFO]
