"""Shared helpers for the FastAPI/uvicorn tests: recording services and a real
uvicorn server on a free port, in-process."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from haraka_di import Service


class Journal(list[str]):
    def stops(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self if line.startswith("stop ")]

    def starts(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self if line.startswith("start ")]


class Recorder(Service):
    """Records ``start NAME`` / ``stop NAME`` in a journal; can fail its start."""

    def __init__(self, journal: Journal, *deps: Service, fail: bool = False) -> None:
        super().__init__()
        self.journal = journal
        self.deps = deps
        self.fail = fail
        self.value = "real"

    async def startup(self) -> None:
        if self.fail:
            raise RuntimeError(f"{self.name} cannot connect")
        self.journal.append(f"start {self.name}")

    async def shutdown(self) -> None:
        self.journal.append(f"stop {self.name}")


class UvicornExited(Exception):
    def __init__(self, code: object) -> None:
        super().__init__(f"uvicorn exited with {code!r}")
        self.code = code


class Server(uvicorn.Server):
    """Plain uvicorn (its own signal capture included) plus a listening event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.listening.set()

    @property
    def port(self) -> int:
        return int(self.servers[0].sockets[0].getsockname()[1])


async def _run(server: Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:
        raise UvicornExited(exc.code) from None


@asynccontextmanager
async def serving(
    app: Any, port: int = 0, **options: Any
) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    """Run ``app`` with real uvicorn (on a free port by default); yields the
    server and a client."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = Server(config)
    task = asyncio.create_task(_run(server))
    listening = asyncio.ensure_future(server.listening.wait())
    await asyncio.wait({task, listening}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    listening.cancel()
    if task.done():
        task.result()  # raises UvicornExited
    assert server.listening.is_set(), "uvicorn did not listen within 30 s"
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield server, client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def listening(port: int) -> bool:
    """Does something accept TCP connections on 127.0.0.1:port?"""
    with socket.socket() as sock:
        sock.settimeout(5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
