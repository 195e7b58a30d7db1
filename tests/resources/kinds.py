"""Every kind of initialiser ``providers.Resource`` supports, each recording
into a journal: ``opening`` when the init begins, ``open`` when it has
opened, ``close`` when its own shutdown ran.

``make(kind, journal, ...)`` returns what to hand to ``providers.Resource``;
the faults: ``init_error``/``close_error`` raise, ``init_delay`` sleeps
(``time.sleep`` for sync kinds, ``asyncio.sleep`` for async ones; a list:
one delay per init) between
``opening`` and ``open``, ``on_open`` is called right after ``open``; ``close_delay`` sleeps
before ``close``; ``tag`` prefixes the entries (``pool:open``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from dependency_injector import resources

SYNC_KINDS = ["function", "generator", "contextmanager", "resource-class"]
ASYNC_KINDS = ["async-function", "async-generator", "asynccontextmanager", "async-resource-class"]
KINDS = SYNC_KINDS + ASYNC_KINDS
#: kinds whose initialiser has a shutdown of its own
CLOSING = [k for k in KINDS if "function" not in k]


class Conn:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.closed = False


def make(
    kind: str,
    journal: list[str],
    *,
    init_error: BaseException | None = None,
    close_error: BaseException | None = None,
    init_delay: float | list[float] = 0.0,
    on_open: Callable[[], None] | None = None,
    close_delay: float = 0.0,
    tag: str = "",
) -> Any:
    prefix = f"{tag}:" if tag else ""

    def opening() -> float:
        journal.append(prefix + "opening")
        if isinstance(init_delay, list):  # one delay per init, then none
            return init_delay.pop(0) if init_delay else 0.0
        return init_delay

    def opened() -> Conn:
        if init_error is not None:
            raise init_error
        journal.append(prefix + "open")
        if on_open is not None:
            on_open()
        return Conn(kind)

    def closing(conn: Conn | None) -> None:
        journal.append(prefix + "close")
        if conn is not None:
            conn.closed = True
        if close_error is not None:
            raise close_error

    def init(**_: Any) -> Conn:
        time.sleep(opening())
        return opened()

    async def ainit(**_: Any) -> Conn:
        await asyncio.sleep(opening())
        return opened()

    def gen(**_: Any) -> Iterator[Conn]:
        conn = init()
        yield conn
        time.sleep(close_delay)
        closing(conn)

    async def agen(**_: Any) -> AsyncIterator[Conn]:
        conn = await ainit()
        yield conn
        await asyncio.sleep(close_delay)
        closing(conn)

    class Sync(resources.Resource[Conn]):
        def init(self, **_: Any) -> Conn:
            return init()

        def shutdown(self, conn: Conn | None) -> None:
            time.sleep(close_delay)
            closing(conn)

    class Async(resources.AsyncResource[Conn]):
        async def init(self, **_: Any) -> Conn:
            return await ainit()

        async def shutdown(self, conn: Conn | None) -> None:
            await asyncio.sleep(close_delay)
            closing(conn)

    return {
        "function": init,
        "async-function": ainit,
        "generator": gen,
        "async-generator": agen,
        "contextmanager": contextmanager(gen),
        "asynccontextmanager": asynccontextmanager(agen),
        "resource-class": Sync,
        "async-resource-class": Async,
    }[kind]


def closes(kind: str, tag: str = "") -> list[str]:
    """What one start and stop of ``kind`` journals."""
    events = ["opening", "open", "close"] if kind in CLOSING else ["opening", "open"]
    return [f"{tag}:{e}" if tag else e for e in events]
