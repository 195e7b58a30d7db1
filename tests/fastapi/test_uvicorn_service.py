"""UvicornService: managed serving, in-process, with real uvicorn and HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import httpx
import pytest
import uvicorn
from dependency_injector import containers, providers
from fastapi import Depends, FastAPI

from haraka_di import Event, Orchestrator, Service, ServiceState, ShutdownError, StartupError
from haraka_di.fastapi import UvicornService, health_router, install_readiness_gate, provide

from .support import Journal, Recorder, free_port, listening

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Gates:
    """Lets a test hold a request in flight and know when it arrived."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


def build_app(cache: Recorder, gates: Gates, docs: bool = True) -> FastAPI:
    app = FastAPI(docs_url="/docs" if docs else None)
    app.include_router(health_router())
    install_readiness_gate(app)

    @app.get("/items")
    async def items(cache: Recorder = Depends(provide(Container.cache))) -> dict[str, Any]:
        return {"cache": cache.name}

    @app.get("/slow")
    async def slow() -> str:
        gates.entered.set()
        await gates.release.wait()
        return "done"

    return app


class Container(containers.DeclarativeContainer):
    journal = providers.Object(Journal())
    gates = providers.Object(Gates())
    docs = providers.Object(True)
    db = providers.Singleton(Recorder, journal)
    cache = providers.Singleton(Recorder, journal, db)
    worker = providers.Singleton(Recorder, journal)  # unrelated to the app
    app = providers.Singleton(build_app, cache, gates, docs)
    server = providers.Singleton(UvicornService, app, port=0, log_level="warning")


class Events(list[tuple[str, ServiceState]]):
    """Every service state change, in order; ``reached`` waits for one."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        if event.service is not None and event.state is not None:
            self.append((event.service, event.state))
            self._changed.set()

    async def reached(self, name: str, state: ServiceState) -> None:
        while (name, state) not in self:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 30)


def make(**options: Any) -> tuple[Orchestrator, Journal, Gates, Events]:
    container = Container()
    journal, gates = Journal(), Gates()
    container.journal.override(providers.Object(journal))
    container.gates.override(providers.Object(gates))
    options.setdefault("handle_signals", False)
    orchestrator = Orchestrator(container, **options)
    orchestrator.configure("worker", priority=5)
    events = Events()
    orchestrator.subscribe(events)
    return orchestrator, journal, gates, events


def kill(sig: signal.Signals) -> None:
    """Signal this process, only while someone handles ``sig``."""
    assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), sig)


def server_of(orchestrator: Orchestrator) -> UvicornService:
    server = orchestrator.services["server"]
    assert isinstance(server, UvicornService)
    return server


async def test_it_starts_after_everything_and_stops_first_honouring_its_dependencies() -> None:
    orchestrator, journal, _, events = make()
    plan = orchestrator.plan()
    assert plan.order[-1] == "server"
    assert set(plan.dependencies["server"]) == {"cache"}  # seen through the app provider
    async with orchestrator.running():
        server = server_of(orchestrator)
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/items")).json() == {"cache": "cache"}
        ready = [name for name, state in events if state is ServiceState.READY]
        assert ready[-1] == "server"
        assert sorted(ready[:-1]) == ["cache", "db", "worker"]
    stopping = [name for name, state in events if state is ServiceState.STOPPING]
    assert stopping[0] == "server"
    assert journal.stops().index("cache") < journal.stops().index("db")
    assert not listening(server.port)


async def test_the_docs_url_is_announced_once_it_listens(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    orchestrator, *_ = make()
    async with orchestrator.running():
        server = server_of(orchestrator)
        assert server.port != 0  # port=0 became the bound port
        assert orchestrator.docs_url == f"http://127.0.0.1:{server.port}/docs"
        assert f"API docs at {orchestrator.docs_url}" in caplog.text
        assert caplog.text.index("API docs at") < caplog.text.index("started server")


async def test_no_docs_url_is_announced_when_docs_are_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "haraka_di")
    orchestrator, *_ = make()
    assert orchestrator.container is not None
    orchestrator.container.docs.override(providers.Object(False))
    async with orchestrator.running():
        assert orchestrator.docs_url is None
    assert "API docs at" not in caplog.text


async def test_uvicorn_installs_no_signal_handlers() -> None:
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    orchestrator, *_ = make()
    async with orchestrator.running():
        assert {sig: signal.getsignal(sig) for sig in SIGNALS} == before
    assert {sig: signal.getsignal(sig) for sig in SIGNALS} == before


async def test_in_flight_requests_finish_before_the_other_services_stop() -> None:
    orchestrator, journal, gates, events = make()
    await orchestrator.run()
    server = server_of(orchestrator)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        slow = asyncio.create_task(client.get("/slow"))
        await gates.entered.wait()
        stopping = asyncio.create_task(orchestrator.shutdown())
        await events.reached("server", ServiceState.STOPPING)
        assert journal.stops() == []  # nothing else stops while the request runs
        gates.release.set()
        response = await slow
        await stopping
    assert response.status_code == 200
    assert response.json() == "done"
    assert events.index(("server", ServiceState.STOPPED)) < events.index(
        ("cache", ServiceState.STOPPING)
    )
    assert journal.stops() == ["cache", "db", "worker"]  # worker has priority 5
    assert not listening(server.port)


async def test_sigterm_drains_then_a_second_signal_forces_the_stop() -> None:
    orchestrator, journal, gates, _ = make(handle_signals=True, drain_seconds=120)
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    serving = asyncio.create_task(orchestrator.serve())
    await orchestrator.wait_for_all_ready()
    server = server_of(orchestrator)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/health/ready")).status_code == 200
        slow = asyncio.create_task(client.get("/slow"))
        await gates.entered.wait()
        kill(signal.SIGTERM)
        await orchestrator.wait_for_shutdown()
        ready = await client.get("/health/ready")  # draining: readiness dropped ...
        assert ready.status_code == 503
        assert ready.json()["state"] == "stopping"
        assert (await client.get("/health/live")).status_code == 200  # ... still alive
        assert (await client.get("/items")).status_code == 200  # ... and still serving
        assert journal.stops() == []
        kill(signal.SIGINT)  # second signal: stop now, don't wait for /slow
        status = await asyncio.wait_for(serving, 30)
        with pytest.raises(httpx.HTTPError):
            (await slow).raise_for_status()
    assert status == 128 + signal.SIGINT
    assert not gates.release.is_set()
    assert journal.stops() == ["cache", "db", "worker"]
    assert not listening(server.port)
    assert {sig: signal.getsignal(sig) for sig in SIGNALS} == before


async def test_a_port_in_use_is_a_startup_error_naming_the_service() -> None:
    orchestrator, journal, *_ = make()
    assert orchestrator.container is not None
    taken = free_port()
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", taken)
    orchestrator.container.server.override(
        providers.Singleton(
            UvicornService, orchestrator.container.app, port=taken, log_level="error"
        )
    )
    try:
        with pytest.raises(StartupError) as failed:
            await orchestrator.run()
    finally:
        blocker.close()
        await blocker.wait_closed()
    assert "'server'" in str(failed.value)
    assert f"uvicorn did not start serving http://127.0.0.1:{taken}: [Errno" in str(failed.value)
    assert "address already in use" in str(failed.value)
    assert sorted(journal.stops()) == ["cache", "db", "worker"]  # rolled back


async def test_uvicorn_ending_on_its_own_shuts_the_orchestrator_down() -> None:
    orchestrator = Orchestrator(handle_signals=False)
    app = FastAPI()
    server = orchestrator.use(
        UvicornService(app, port=0, log_level="warning", limit_max_requests=1)
    )
    assert isinstance(server, UvicornService)
    await orchestrator.run()
    async with httpx.AsyncClient(base_url=server.url) as client:
        await client.get("/nothing")
    await asyncio.wait_for(orchestrator.wait_for_shutdown(), 30)
    await orchestrator.shutdown()
    assert orchestrator.exit_code == 1


async def test_a_stop_timeout_cuts_in_flight_requests_short() -> None:
    orchestrator, journal, gates, _ = make()
    orchestrator.configure("server", stop_timeout=0.2)
    await orchestrator.run()
    server = server_of(orchestrator)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        slow = asyncio.create_task(client.get("/slow"))
        await gates.entered.wait()
        # /slow never finishes: the stop is cut short, and that is reported
        with pytest.raises(ShutdownError, match=r"'server'.*cut short by its 0\.2s timeout"):
            await orchestrator.shutdown()
        response = await slow
    assert response.status_code == 503  # cut short cleanly (issue 14): not a 500
    assert response.headers["connection"] == "close"
    assert {r.name: r.state for r in orchestrator.report()}["server"] is ServiceState.FAILED
    assert journal.stops() == ["cache", "db", "worker"]
    assert not listening(server.port)


def test_bad_arguments_are_refused() -> None:
    app = FastAPI()
    with pytest.raises(TypeError, match=r"unknown uvicorn option\(s\) \['workerz'\]"):
        UvicornService(app, workerz=2)
    with pytest.raises(ValueError, match="port must be an integer from 0 to 65535"):
        UvicornService(app, port=70000)
    with pytest.raises(TypeError, match="host must be a non-empty string"):
        UvicornService(app, host="")
    with pytest.raises(TypeError, match="needs an ASGI app"):
        UvicornService(None)


def test_a_container_may_inject_the_runtime() -> None:
    runtime = Orchestrator().runtime
    service = UvicornService(FastAPI(), port=0, runtime=runtime)
    assert service.runtime is runtime
    assert "runtime" not in service.uvicorn_options


def test_it_is_a_service_with_the_lowest_priority() -> None:
    service = UvicornService(FastAPI())
    assert isinstance(service, Service)
    assert service.priority < -(10**9)
    assert service.url == "http://127.0.0.1:8000"
    assert repr(service) == "<UvicornService 'uvicorn' http://127.0.0.1:8000>"


async def test_a_stop_request_ends_uvicorns_main_loop_without_waiting_for_its_tick() -> None:
    # uvicorn's own loop looks at should_exit every 0.1 s; request_exit()
    # ends it within a few event-loop iterations instead (no clock involved).
    from haraka_di.fastapi._uvicorn import _Server

    config = uvicorn.Config(FastAPI(), port=0, log_level="warning")
    config.load()
    server = _Server(config)
    loop = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.01)  # now inside uvicorn's sleep between two ticks
    assert not loop.done()
    server.request_exit()
    assert server.should_exit
    for _ in range(20):
        if loop.done():
            break
        await asyncio.sleep(0)
    assert loop.done(), "main_loop still waits for its next tick"
    assert loop.result() is None
