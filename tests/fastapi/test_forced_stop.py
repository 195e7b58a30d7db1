"""Issue 14, item 8: a forced stop (a second signal) while a request is in
flight. Real uvicorn, a real HTTP client, real signals: the request cut short
is answered cleanly (503, or its connection closed if the response had
started), uvicorn prints no traceback, and only the stops that really were
cut short are reported.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from haraka_di import Orchestrator, Service, ServiceState
from haraka_di.fastapi import UvicornService

from .support import free_port, listening
from .test_process import GRACE, Child, wait_ready

pytestmark = pytest.mark.timeout(120)

FAILED_STOP = re.compile(r"service (\S+) failed to stop")


def test_a_second_signal_with_a_request_in_flight_answers_503_and_blames_only_http() -> None:
    # The case: haraka run of the reference app, GET /slow in flight,
    # SIGTERM (uvicorn waits for /slow), then Ctrl-C.
    port = free_port()
    args = ["-m", "haraka_di", "run", "containers.app:Application", "--config"]
    args += ["containers/app.yaml", "--set", f"config.server.port={port}"]
    args += ["--set", "config.server.log_level=trace"]  # uvicorn says when /slow reached the app
    child = Child(*args)
    try:
        wait_ready(child, port)
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, f"http://127.0.0.1:{port}/slow?seconds=120", timeout=60)
            _wait_for_line(child, "'path': '/slow'")  # the app runs the request
            child.proc.send_signal(signal.SIGTERM)
            _wait_for_line(child, "Waiting for connections to close")  # uvicorn waits for /slow
            forced = time.monotonic()
            child.proc.send_signal(signal.SIGINT)
            response = slow.result(timeout=30)
        status = child.wait(GRACE)
        took = time.monotonic() - forced
    finally:
        child.kill()
    log = child.log
    assert status == 128 + signal.SIGINT, log
    assert took < 10, f"the forced stop took {took:.1f}s"
    assert response.status_code == 503, response.text
    assert response.headers["connection"] == "close"
    assert "Exception in ASGI application" not in log
    assert "Traceback" not in log
    assert FAILED_STOP.findall(log) == ["http"], log  # db's stop is quick: it completes
    assert "stop of service 'http' was cut short by a forced shutdown" in log
    assert "1 request(s) in flight cut short" in log
    assert "stopped db" in log and "database sqlite+aiosqlite:// closed" in log
    assert not listening(port)


class Pool(Service):
    """Closes like a database pool: a short wait on a worker thread."""

    name = "pool"
    closed = False

    async def shutdown(self) -> None:
        await asyncio.to_thread(time.sleep, 0.05)
        self.closed = True


def streaming_app(first_chunk_sent: asyncio.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/feed")
    async def feed() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first\n"
            first_chunk_sent.set()
            await asyncio.Event().wait()  # a feed that never ends
            yield b"never\n"  # pragma: no cover

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/hold")
    async def hold() -> str:
        first_chunk_sent.set()
        await asyncio.Event().wait()
        return "never"  # pragma: no cover

    return app


def kill(sig: signal.Signals) -> None:
    """Signal this process, only while someone handles ``sig``."""
    assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), sig)


@pytest.mark.parametrize("route", ["/hold", "/feed"])
async def test_in_process_a_forced_stop_closes_the_cut_requests_without_a_traceback(
    route: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    in_app = asyncio.Event()
    orchestrator = Orchestrator(cancel_grace=1.0)
    pool = orchestrator.use(Pool())
    # log_config=None: uvicorn's records reach the root logger (and caplog)
    server = UvicornService(streaming_app(in_app), port=0, log_config=None, log_level="info")
    orchestrator.use(server, dependencies=["pool"])
    serving = asyncio.create_task(orchestrator.serve())
    await orchestrator.wait_for_all_ready()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        if route == "/feed":
            async with client.stream("GET", route) as response:
                lines = response.aiter_lines()
                assert await anext(lines) == "first"
                kill(signal.SIGTERM)
                await _state(orchestrator, "uvicorn", ServiceState.STOPPING)
                kill(signal.SIGTERM)  # force: the feed's response had started
                with pytest.raises(httpx.RemoteProtocolError):  # cut short, not "complete"
                    async for _ in lines:
                        pass
            cut = ""
        else:
            request = asyncio.create_task(client.get(route))
            await in_app.wait()
            kill(signal.SIGTERM)
            await _state(orchestrator, "uvicorn", ServiceState.STOPPING)
            kill(signal.SIGTERM)
            cut = (await request).text
            assert (await request).status_code == 503
        status = await asyncio.wait_for(serving, 30)
    assert status == 128 + signal.SIGTERM
    assert "Exception in ASGI application" not in caplog.text
    assert "CancelledError" not in caplog.text
    assert FAILED_STOP.findall(caplog.text) == ["uvicorn"], caplog.text
    assert isinstance(pool, Pool) and pool.closed  # a later stop with a real wait completes
    if route == "/hold":
        assert cut.startswith("Service Unavailable")
    assert not listening(server.port)


async def _state(orchestrator: Orchestrator, name: str, state: ServiceState) -> None:
    reached = asyncio.Event()

    def on_event(event: object) -> None:
        if getattr(event, "service", None) == name and getattr(event, "state", None) is state:
            reached.set()

    unsubscribe = orchestrator.subscribe(on_event)
    try:
        current = {r.name: r.state for r in orchestrator.report()}[name]
        if current is not state:
            await asyncio.wait_for(reached.wait(), 30)
    finally:
        unsubscribe()


def _wait_for_line(child: Child, text: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while text not in child.log:
        if child.proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"no line with {text!r}:\n{child.log}")
        time.sleep(0.02)
