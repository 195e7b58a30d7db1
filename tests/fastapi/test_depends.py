"""Routes get services of the running container: provide() and DI wiring."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dependency_injector import containers, providers
from fastapi import Depends, FastAPI

from haraka_di.fastapi import lifespan, provide

from . import wired_routes
from .support import Journal, Recorder, serving
from .wired_routes import WiredContainer


class Fake:
    value = "fake"
    deps: tuple[Any, ...] = ()


async def make_token() -> str:
    await asyncio.sleep(0)
    return "token"


class Infra(containers.DeclarativeContainer):
    log = providers.Dependency()
    db = providers.Singleton(Recorder, log)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(default={"greeting": {"text": "hi"}})
    log = providers.Object(Journal())
    infra = providers.Container(Infra, log=log)
    cache = providers.Singleton(Recorder, log, infra.db)
    token = providers.Coroutine(make_token)
    other = providers.Factory(Fake)


def make_app(container: object) -> FastAPI:
    app = FastAPI(lifespan=lifespan(container))

    @app.get("/provided")
    async def provided(
        cache: Recorder = Depends(provide(Container.cache)),
        db: Recorder = Depends(provide(Container.infra.db)),
        token: str = Depends(provide(Container.token)),
    ) -> dict[str, Any]:
        running = app.state.orchestrator.services
        return {
            "cache": cache.value,
            "cache_is_running": cache is running["cache"],
            "db_is_running": db is running["infra.db"],
            "token": token,
        }

    return app


async def test_provide_maps_class_providers_to_the_running_container() -> None:
    app = make_app(Container)  # the class: the lifespan instantiates it
    async with serving(app) as (_, client):
        body = (await client.get("/provided")).json()
    assert body == {
        "cache": "real",
        "cache_is_running": True,
        "db_is_running": True,
        "token": "token",
    }


async def test_provide_sees_overrides_of_the_running_container() -> None:
    app = make_app(Container)
    async with serving(app) as (_, client):
        assert (await client.get("/provided")).json()["cache"] == "real"
        app.state.container.cache.override(providers.Object(Fake()))
        assert (await client.get("/provided")).json()["cache"] == "fake"
        app.state.container.cache.reset_last_overriding()
        assert (await client.get("/provided")).json()["cache"] == "real"


async def test_provide_accepts_the_running_instances_own_providers() -> None:
    container = Container()
    app = FastAPI(lifespan=lifespan(container))

    @app.get("/own")
    async def own(cache: Recorder = Depends(provide(container.cache))) -> dict[str, bool]:
        return {"running": cache is app.state.orchestrator.services["cache"]}

    async with serving(app) as (_, client):
        assert (await client.get("/own")).json() == {"running": True}


async def test_provide_refuses_a_provider_of_another_container(
    capfd: pytest.CaptureFixture[str],
) -> None:
    stranger = Container()  # a different instance: its providers are not the app's
    app = make_app(Container)

    @app.get("/stranger")
    async def route(other: Fake = Depends(provide(stranger.other))) -> str:
        raise AssertionError("resolved a provider of another container")  # pragma: no cover

    async with serving(app) as (_, client):
        assert (await client.get("/stranger")).status_code == 500
    err = capfd.readouterr().err
    assert "HarakaError: provide(): <dependency_injector.providers.Factory" in err
    assert "is not a provider of the running container Container" in err


async def test_provide_without_a_running_container_says_how_to_attach_one(
    capfd: pytest.CaptureFixture[str],
) -> None:
    app = FastAPI()

    @app.get("/orphan")
    async def orphan(cache: Recorder = Depends(provide(Container.cache))) -> str:
        raise AssertionError("resolved without a container")  # pragma: no cover

    async with serving(app) as (_, client):
        assert (await client.get("/orphan")).status_code == 500
    err = capfd.readouterr().err
    assert "HarakaError: provide(): no container is attached to this app" in err
    assert "lifespan=haraka_di.fastapi.lifespan(container)" in err


async def test_provide_resolves_configuration_options_of_the_running_container() -> None:
    container = Container()
    app = FastAPI(lifespan=lifespan(container))

    @app.get("/greeting")
    async def greeting(text: str = Depends(provide(Container.config.greeting.text))) -> str:
        return text

    async with serving(app) as (_, client):
        assert (await client.get("/greeting")).json() == "hi"
        container.config.greeting.text.from_value("hello")
        assert (await client.get("/greeting")).json() == "hello"


def test_provide_takes_a_provider() -> None:
    with pytest.raises(TypeError, match=r"provide\(Container\.db\)"):
        provide("cache")  # type: ignore[arg-type]


async def test_dependency_injector_wiring_resolves_the_running_container() -> None:
    journal = Journal()
    container = WiredContainer(log=journal)
    container.wire(modules=[wired_routes])
    try:
        app = FastAPI(lifespan=lifespan(container))
        app.include_router(wired_routes.router)
        async with serving(app) as (_, client):
            body = (await client.get("/wired")).json()
            assert body == {"cache": "real", "db": "real", "same_db": True, "greeting": "hello"}
            running = app.state.orchestrator.services
            assert running["cache"].deps[0] is running["infra.db"]
            with container.cache.override(providers.Object(Fake())):
                assert (await client.get("/wired")).json()["cache"] == "fake"
            assert (await client.get("/wired")).json()["cache"] == "real"
        assert journal.stops() == ["cache", "infra.db"]
    finally:
        container.unwire()
