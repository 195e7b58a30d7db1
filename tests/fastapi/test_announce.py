"""The start-up announcement: once uvicorn listens, the docs URL and the
health endpoints the app really mounts (wherever they are mounted)."""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import httpx
import pytest
from dependency_injector import containers, providers
from fastapi import FastAPI

from haraka_di import Orchestrator
from haraka_di.fastapi import UvicornService, health_router

pytestmark = pytest.mark.timeout(60)


def announcement(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "haraka_di" and r.getMessage().startswith(("API docs at", "health at"))
    ]


def served(app: FastAPI) -> Orchestrator:
    class Served(containers.DeclarativeContainer):
        web = providers.Object(app)
        http = providers.Singleton(UvicornService, web, port=0, log_level="warning")

    return Orchestrator(Served, handle_signals=False)


async def test_the_default_health_router_is_announced_after_the_docs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    app = FastAPI()
    app.include_router(health_router())
    orchestrator = served(app)
    async with orchestrator.running():
        url = orchestrator.services["http"].url  # type: ignore[attr-defined]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
        assert announcement(caplog) == [
            f"API docs at {url}/docs",
            f"health at {url}/health/live, /health/ready, /health/startup",
        ]
        async with httpx.AsyncClient(base_url=url) as client:
            for path in ("/health/live", "/health/ready", "/health/startup"):
                assert (await client.get(path)).status_code == 200, path


async def test_probes_are_found_wherever_they_are_mounted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    app = FastAPI(docs_url=None)  # no docs: the probes are still announced
    app.include_router(health_router("/probes"), prefix="/ops")
    orchestrator = served(app)
    async with orchestrator.running():
        url = orchestrator.services["http"].url  # type: ignore[attr-defined]
        assert announcement(caplog) == [
            f"health at {url}/ops/probes/live, /ops/probes/ready, /ops/probes/startup"
        ]
        assert orchestrator.docs_url is None
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/ops/probes/ready")).json()["status"] == "ready"


async def test_probes_of_a_mounted_sub_app_are_announced_with_the_mount_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    internal = FastAPI()
    internal.include_router(health_router(orchestrator=None))
    app = FastAPI(docs_url=None)
    app.mount("/internal", internal)
    orchestrator = served(app)
    async with orchestrator.running():
        url = orchestrator.services["http"].url  # type: ignore[attr-defined]
        (line,) = announcement(caplog)
        assert line == (
            f"health at {url}/internal/health/live, /internal/health/ready, "
            "/internal/health/startup"
        )
        async with httpx.AsyncClient(base_url=url) as client:  # the path is real
            assert (await client.get("/internal/health/live")).status_code != 404


async def test_an_app_without_probes_announces_only_its_docs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    orchestrator = served(FastAPI())
    async with orchestrator.running():
        url = orchestrator.services["http"].url  # type: ignore[attr-defined]
        assert announcement(caplog) == [f"API docs at {url}/docs"]


async def test_the_seed_run_announces_the_probes_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    app = FastAPI()
    app.include_router(health_router())
    orchestrator = Orchestrator(handle_signals=False)
    await orchestrator.run(SimpleNamespace(host="0.0.0.0", port=8123), app)
    try:
        assert announcement(caplog) == [
            "API docs at http://0.0.0.0:8123/docs",
            "health at http://0.0.0.0:8123/health/live, /health/ready, /health/startup",
        ]
    finally:
        await orchestrator.shutdown()


def test_the_core_finds_probes_by_duck_typing_without_fastapi() -> None:
    from haraka_di._docs import PROBE_ROUTE_NAMES, probe_paths

    class Routes:  # not a Starlette app: only url_path_for, by route name
        def url_path_for(self, name: str) -> str:
            if name == PROBE_ROUTE_NAMES["ready"]:
                return "/k8s/ready"
            raise LookupError(name)

    assert probe_paths(Routes()) == ["/k8s/ready"]
    assert probe_paths(object()) == []
    assert probe_paths(SimpleNamespace(docs_url="/docs")) == []
