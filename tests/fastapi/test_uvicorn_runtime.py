"""UvicornService needs no ``runtime=``: the orchestrator that runs it sets
``service.runtime`` before ``startup()``, in a container and with ``use()``;
a ``runtime=`` passed anyway is taken out of the uvicorn options and
replaced by the running orchestrator's handle."""

from __future__ import annotations

import httpx
import pytest
from dependency_injector import containers, providers
from fastapi import FastAPI

from haraka_di import Orchestrator, Runtime
from haraka_di.fastapi import UvicornService, health_router

pytestmark = pytest.mark.timeout(60)


def make_app() -> FastAPI:
    app = FastAPI()
    app.include_router(health_router())
    return app


class Without(containers.DeclarativeContainer):
    api = providers.Singleton(make_app)
    http = providers.Singleton(UvicornService, api, port=0, log_level="warning")


class With(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    api = providers.Singleton(make_app)
    http = providers.Singleton(UvicornService, api, port=0, log_level="warning", runtime=runtime)


async def served_fully(orchestrator: Orchestrator, server: UvicornService) -> None:
    """What the runtime is for: app.state attached, docs URL published, and
    the probes answer from the running orchestrator."""
    assert server.runtime is orchestrator.runtime
    assert server.app.state.orchestrator is orchestrator
    assert orchestrator.docs_url == f"{server.url}/docs"
    async with httpx.AsyncClient(base_url=server.url) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    expected = {"kind": "Service", "state": "ready", "ready": True}
    assert ready.json()["services"] == {server.name: expected}


@pytest.mark.parametrize("container", [Without, With], ids=["no runtime=", "runtime="])
async def test_in_a_container_runtime_is_set_by_the_orchestrator(
    container: type[containers.DeclarativeContainer],
) -> None:
    orchestrator = Orchestrator(container, handle_signals=False)
    async with orchestrator.running():
        server = orchestrator.services["http"]
        assert isinstance(server, UvicornService)
        assert "runtime" not in server.uvicorn_options  # never reaches uvicorn.Config
        await served_fully(orchestrator, server)


async def test_with_use_runtime_is_set_on_registration() -> None:
    server = UvicornService(make_app(), port=0, log_level="warning")
    assert not hasattr(server, "runtime")
    orchestrator = Orchestrator(handle_signals=False)
    orchestrator.use(server)
    assert server.runtime is orchestrator.runtime  # before anything starts
    async with orchestrator.running():
        await served_fully(orchestrator, server)


async def test_a_runtime_passed_by_hand_is_replaced_by_the_running_orchestrators() -> None:
    other = Orchestrator(handle_signals=False)
    server = UvicornService(make_app(), port=0, log_level="warning", runtime=other.runtime)
    assert server.runtime is other.runtime and "runtime" not in server.uvicorn_options
    orchestrator = Orchestrator(handle_signals=False)
    orchestrator.use(server)
    async with orchestrator.running():
        await served_fully(orchestrator, server)
