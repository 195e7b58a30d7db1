"""Issue 14, item 10: routes that resolve services from a container no
orchestrator runs are named at startup. ``lifespan(Container)`` given the
class runs a new instance; routes wired to another instance would silently
get services that never started. Real FastAPI TestClient (and real uvicorn).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from haraka_di import Orchestrator
from haraka_di.fastapi import UvicornService, lifespan, provide

from . import stray_routes
from .stray_routes import AutoWired, Db, Stray

STRAY = "from another container, not from the container lifespan() runs (Stray)"


@pytest.fixture
def wired() -> Iterator[Stray]:
    """The instance the module is wired to: not the one lifespan(Stray) runs."""
    container = Stray()
    container.wire(modules=[stray_routes])
    yield container
    container.unwire()


def app_with(container: object) -> FastAPI:
    app = FastAPI(lifespan=lifespan(container))
    app.include_router(stray_routes.router)
    return app


def stray_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("route ")]


def test_lifespan_given_the_class_names_each_route_wired_to_another_instance(
    wired: Stray, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "haraka_di")
    with TestClient(app_with(Stray)) as client:
        assert client.get("/db").json() == {"started": False}  # what the warning is about
    found = stray_warnings(caplog)
    assert found[0] == (
        f"route GET /db: db_route() resolves 'db' {STRAY}, so its services were never "
        "started; pass lifespan() the container instance the routes are wired to "
        "(lifespan(container), not lifespan(Container)), or wire the running one (a "
        "WiringConfiguration on the container class wires every new instance)"
    )
    # dependencies of dependencies, Provide[config.x] and Provider[...] markers too
    assert [m.split(", so")[0] for m in found[1:]] == [
        f"route GET /nested: greeting() resolves 'text' {STRAY}",
        f"route GET /nested: db_factory() resolves 'make' {STRAY}",
    ]


def test_lifespan_given_the_wired_instance_says_nothing(
    wired: Stray, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "haraka_di")
    with TestClient(app_with(wired)) as client:
        assert client.get("/db").json() == {"started": True}
        assert client.get("/nested").json() == {"greeting": "hello", "started": True}
    assert stray_warnings(caplog) == []


def test_a_container_that_wires_each_new_instance_says_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "haraka_di")
    app = FastAPI(lifespan=lifespan(AutoWired))
    app.include_router(stray_routes.auto_router)
    try:
        with TestClient(app) as client:  # the new instance wired the module to itself
            assert client.get("/auto").json() == {"started": True}
    finally:
        app.state.container.unwire()
    assert stray_warnings(caplog) == []


def test_provide_of_another_instance_is_named_at_startup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "haraka_di")
    other = Stray()
    app = FastAPI(lifespan=lifespan(Stray))

    @app.get("/other")
    async def other_route(db: Db = Depends(provide(other.db))) -> bool:
        return db.started  # pragma: no cover - the request fails

    @app.get("/fine")
    async def fine_route(db: Db = Depends(provide(Stray.db))) -> bool:
        return db.started

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/fine").json() is True
        assert client.get("/other").status_code == 500
    (found,) = stray_warnings(caplog)
    assert found.startswith(
        "route GET /other: its provide() dependency will fail: "
        "<dependency_injector.providers.Singleton("
    )
    assert "is not a provider of the running container Stray" in found


async def test_uvicorn_service_names_routes_wired_to_another_container(
    wired: Stray, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "haraka_di")
    app = FastAPI()
    app.include_router(stray_routes.router)
    orchestrator = Orchestrator(Stray(), handle_signals=False)
    server = orchestrator.use(UvicornService(app, port=0, log_level="warning"))
    assert isinstance(server, UvicornService)
    async with orchestrator.running(), httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/db")).json() == {"started": False}
    found = stray_warnings(caplog)
    assert found[0].startswith(
        "route GET /db: db_route() resolves 'db' from another container, not from the "
        "container the orchestrator runs (Stray)"
    )
    assert found[0].endswith(
        "run the container the routes are wired to, or wire the running one (container.wire())"
    )
