"""health_router() probes and the readiness gate, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dependency_injector import containers, providers
from fastapi import FastAPI

from haraka_di import Orchestrator, Runtime, Service
from haraka_di.fastapi import ReadinessGate, health_router, install_readiness_gate, lifespan

from .support import serving


class WarmCache(Service):
    """Ready only once warmed up (ready_on_startup = False)."""

    ready_on_startup = False

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)


class DB(Service):
    pass


class Container(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    db = providers.Singleton(DB)
    cache = providers.Singleton(WarmCache, runtime)


def make_app(prefix: str = "/health") -> FastAPI:
    app = FastAPI(lifespan=lifespan(Container))
    app.include_router(health_router(prefix))
    install_readiness_gate(app, retry_after=7)

    @app.get("/items")
    async def items() -> list[str]:
        return ["a"]

    return app


async def test_readiness_waits_for_every_service_and_lists_their_states() -> None:
    app = make_app()
    async with serving(app) as (_, client):
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not ready",
            "state": "running",
            "ready": False,
            "services": {
                "db": {"kind": "Service", "state": "ready", "ready": True},
                "cache": {"kind": "Service", "state": "started", "ready": False},
            },
        }
        assert ready.headers["cache-control"] == "no-store"
        # started (startup finished) and alive, though not ready
        assert (await client.get("/health/startup")).status_code == 200
        assert (await client.get("/health/live")).json()["status"] == "alive"

        app.state.orchestrator.mark_ready("cache")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert ready.json()["services"]["cache"] == {
            "kind": "Service",
            "state": "ready",
            "ready": True,
        }

        app.state.orchestrator.mark_not_ready("cache")  # readiness can be revoked
        assert (await client.get("/health/ready")).status_code == 503


async def test_the_gate_refuses_other_routes_until_ready() -> None:
    app = make_app()
    async with serving(app) as (_, client):
        refused = await client.get("/items")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "7"
        assert "retry later" in refused.json()["detail"]
        # the probes and the docs stay reachable
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200

        app.state.orchestrator.mark_ready("cache")
        served = await client.get("/items")
        assert served.status_code == 200
        assert served.json() == ["a"]

        app.state.orchestrator.mark_not_ready("cache")  # e.g. lost its upstream
        assert (await client.get("/items")).status_code == 503


async def test_probes_before_startup_and_after_shutdown() -> None:
    orchestrator = Orchestrator(Container, handle_signals=False)
    app = FastAPI()
    app.include_router(health_router(orchestrator=orchestrator))
    app.add_middleware(ReadinessGate, orchestrator=orchestrator)

    @app.get("/items")
    async def items() -> str:
        return "served"

    async with serving(app) as (_, client):
        startup = await client.get("/health/startup")
        assert startup.status_code == 503
        assert startup.json()["status"] == "starting"
        assert startup.json()["state"] == "created"
        assert startup.json()["services"]["db"] == {
            "kind": "Service",
            "state": "pending",
            "ready": False,
        }
        assert (await client.get("/items")).status_code == 503

        await orchestrator.run()
        orchestrator.mark_ready("cache")
        assert (await client.get("/health/ready")).status_code == 200
        await orchestrator.shutdown()

        assert (await client.get("/health/ready")).status_code == 503
        live = await client.get("/health/live")
        assert live.status_code == 503
        assert live.json()["state"] == "destroyed"
        assert (await client.get("/items")).text == '"served"'  # the gate is for startup only


async def test_the_prefix_is_configurable() -> None:
    app = make_app(prefix="/_probe")
    async with serving(app) as (_, client):
        assert (await client.get("/_probe/live")).status_code == 200
        assert (await client.get("/health/live")).status_code == 404


async def test_probes_without_an_orchestrator_answer_503_and_say_why() -> None:
    app = FastAPI()
    app.include_router(health_router())
    install_readiness_gate(app)
    async with serving(app) as (_, client):
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "no orchestrator is attached" in ready.json()["detail"]
        assert (await client.get("/anything")).status_code == 503


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix must start with '/'"):
        health_router("health")
    with pytest.raises(ValueError, match="prefix must start with '/'"):
        health_router("/health/")
    with pytest.raises(TypeError, match="list of path prefixes"):
        ReadinessGate(FastAPI(), exempt="/health")
    with pytest.raises(ValueError, match="retry_after"):
        ReadinessGate(FastAPI(), retry_after=-1)


class Pool:
    def __init__(self) -> None:
        self.open = True


async def open_pool(opened: asyncio.Event, release: asyncio.Event) -> AsyncIterator[Pool]:
    """An async generator Resource whose init waits until the test releases it."""
    opened.set()
    await release.wait()
    pool = Pool()
    yield pool
    pool.open = False


class Api(Service):
    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool


class Pooled(containers.DeclarativeContainer):
    opened = providers.Dependency(instance_of=asyncio.Event)
    release = providers.Dependency(instance_of=asyncio.Event)
    pool = providers.Resource(open_pool, opened, release)
    api = providers.Singleton(Api, pool)


async def test_a_resource_shows_up_with_its_kind_and_state() -> None:
    container = Pooled(
        opened=providers.Object(asyncio.Event()), release=providers.Object(asyncio.Event())
    )
    orchestrator = Orchestrator(container, handle_signals=False)
    app = FastAPI()
    app.include_router(health_router(orchestrator=orchestrator))

    async def services() -> dict[str, dict[str, object]]:
        body: dict[str, dict[str, object]] = (await client.get("/health/startup")).json()
        return body["services"]

    async with serving(app) as (_, client):
        assert (await services())["pool"] == {
            "kind": "Resource",
            "state": "pending",
            "ready": False,
        }
        run = asyncio.create_task(orchestrator.run())
        await container.opened().wait()  # the init is under way
        assert (await services()) == {
            "pool": {"kind": "Resource", "state": "starting", "ready": False},
            "api": {"kind": "Service", "state": "pending", "ready": False},
        }
        container.release().set()
        await run
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["services"]["pool"] == {
            "kind": "Resource",
            "state": "ready",
            "ready": True,
        }
        await orchestrator.shutdown()
        stopped = (await services())["pool"]
        assert stopped == {"kind": "Resource", "state": "stopped", "ready": False}
    assert not container.pool.initialized
