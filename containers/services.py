"""The reference application's building blocks: the database, a cache and a worker.

- :func:`init_database` is a dependency-injector *Resource*: an async
  generator that opens SQLAlchemy's async engine, creates the schema, yields
  the engine, and disposes of it after the ``yield``. Any SQLAlchemy URL
  works (:func:`database_url` builds it from the configuration); the default
  is SQLite through aiosqlite, in memory or in a file.
- :class:`ItemRepository` is a plain class around the engine (the queries),
  wired by a ``Factory``: it has no lifecycle of its own.
- :class:`Cache` and :class:`Worker` are :class:`haraka_di.Service` classes.

The container (``containers.app``) wires them; their constructor arguments
are the dependency graph: the cache and the worker take a repository, which
takes the engine, so the database opens first and closes last.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from haraka_di import Runtime, Service

__all__ = [
    "Cache",
    "Item",
    "ItemRepository",
    "Worker",
    "database_url",
    "engine_options",
    "init_database",
    "metadata",
]

log = logging.getLogger("containers")

Item = dict[str, Any]

metadata = MetaData()

items_table = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,  # ids are never reused (as the schema always had it)
)


def database_url(url: str | None = None, path: str | None = None) -> str:
    """The SQLAlchemy URL: ``url`` when set (any dialect and async driver,
    e.g. ``postgresql+asyncpg://...``), otherwise SQLite through aiosqlite at
    ``path`` (``:memory:``, the default, is one in-memory database)."""
    for key, value in (("url", url), ("path", path)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"config db.{key} must be a string, got {value!r}")
    if url:
        return url
    if not path or path == ":memory:":
        return "sqlite+aiosqlite://"
    return f"sqlite+aiosqlite:///{path}"


def engine_options(url: str) -> dict[str, Any]:
    """``create_async_engine`` options that ``url`` needs.

    An in-memory SQLite database lives and dies with its connection, and
    each new connection would get its own, empty one. So the engine keeps
    exactly one connection open for its whole life and lends it to one task
    at a time: a queue pool of one (``pool_size=1, max_overflow=0``; a task
    waits up to ``pool_timeout`` for it). ``StaticPool``, the usual answer,
    keeps one connection too, but hands it to concurrent tasks at once, and
    their transactions interleave (two inserts can report the same id).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return {
            "poolclass": AsyncAdaptedQueuePool,
            "pool_size": 1,
            "max_overflow": 0,
            "connect_args": {"check_same_thread": False},
        }
    return {}


async def init_database(url: str, echo: bool = False) -> AsyncIterator[AsyncEngine]:
    """The database Resource: open the engine and create the schema, yield
    the engine, and dispose of it (closing every pooled connection) after."""
    threads = set(threading.enumerate())
    engine = create_async_engine(url, echo=bool(echo), **engine_options(url))
    shown = engine.url.render_as_string()  # the password masked
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    except BaseException:
        await engine.dispose()
        await _finish_worker_threads(threads)
        raise
    log.info("database %s ready (schema created)", shown)
    try:
        yield engine
    finally:
        await engine.dispose()
        log.info("database %s closed", shown)


async def _finish_worker_threads(before: set[threading.Thread]) -> None:
    """Let the worker threads of connections that failed to open finish.

    aiosqlite stops a connection that failed to open without waiting for its
    thread, which then hands its last result to the event loop; when the loop
    has closed by then (a failed startup exits at once) it prints an "Event
    loop is closed" traceback (omnilib/aiosqlite#389). Joining them here, off
    the loop and for at most a second, lets that result land.
    """
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 1.0)


def _item(row: Any) -> Item:
    return {"id": row.id, "name": row.name, "quantity": row.quantity}


class ItemRepository:
    """The items table, queried through the engine it is given."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list_items(self) -> list[Item]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(items_table).order_by(items_table.c.id))
            return [_item(row) for row in rows]

    async def get_item(self, item_id: int) -> Item | None:
        async with self.engine.connect() as conn:
            query = select(items_table).where(items_table.c.id == item_id)
            row = (await conn.execute(query)).first()
            return _item(row) if row is not None else None

    async def create_item(self, name: str, quantity: int) -> Item:
        async with self.engine.begin() as conn:
            result = await conn.execute(items_table.insert().values(name=name, quantity=quantity))
            (item_id,) = result.inserted_primary_key
        return {"id": item_id, "name": name, "quantity": quantity}

    async def update_item(self, item_id: int, name: str, quantity: int) -> Item | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                items_table.update()
                .where(items_table.c.id == item_id)
                .values(name=name, quantity=quantity)
            )
        return {"id": item_id, "name": name, "quantity": quantity} if result.rowcount else None

    async def delete_item(self, item_id: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(items_table.delete().where(items_table.c.id == item_id))
        return bool(result.rowcount)

    async def count_items(self) -> int:
        async with self.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(items_table))
        return int(count or 0)


class Cache(Service):
    """A read-through, write-through cache of the items.

    It warms up in the background (``runtime.spawn``) and only then marks
    itself ready: ``ready_on_startup = False``. Until then reads go to the
    database and the readiness probe says 503.
    """

    ready_on_startup = False

    def __init__(
        self, runtime: Runtime, items: ItemRepository, warmup_seconds: float = 0.5
    ) -> None:
        super().__init__(runtime)
        self.repository = items
        self.warmup_seconds = warmup_seconds
        self.items: dict[int, Item] = {}
        self.warm = False
        self.hits = 0
        self.misses = 0

    async def startup(self) -> None:
        self.runtime.spawn(self._warm_up, name=f"{self.name}: warm-up")

    async def _warm_up(self) -> None:
        await asyncio.sleep(self.warmup_seconds)  # stands in for a slow bulk load
        for item in await self.repository.list_items():
            self.items.setdefault(item["id"], item)
        self.warm = True
        log.info("cache warmed up with %d item(s)", len(self.items))
        self.runtime.mark_ready(self.name)

    async def shutdown(self) -> None:
        self.items.clear()
        self.warm = False

    async def list(self) -> list[Item]:
        if not self.warm:
            return await self.repository.list_items()
        return [self.items[k] for k in sorted(self.items)]

    async def get(self, item_id: int) -> Item | None:
        item = self.items.get(item_id)
        if item is not None:
            self.hits += 1
            return item
        self.misses += 1
        item = await self.repository.get_item(item_id)
        if item is not None:
            self.items[item_id] = item
        return item

    def put(self, item: Item) -> None:
        self.items[item["id"]] = item

    def drop(self, item_id: int) -> None:
        self.items.pop(item_id, None)


class Worker(Service):
    """Periodic work: every ``interval`` seconds it counts the items.

    The loop runs as a supervised background task (``runtime.spawn``), so
    it is cancelled before the services stop and a crash shuts the
    application down with a non-zero exit status.
    """

    def __init__(self, runtime: Runtime, items: ItemRepository, interval: float = 5.0) -> None:
        super().__init__(runtime)
        if interval <= 0:
            raise ValueError(f"worker interval must be > 0 seconds, got {interval!r}")
        self.repository = items
        self.interval = interval
        self.runs = 0
        self.last_count: int | None = None
        self.ticked = asyncio.Event()  # set after every run (tests wait on it)

    async def startup(self) -> None:
        self.runtime.spawn(self._loop, name=f"{self.name}: periodic")

    async def _loop(self) -> None:
        while True:
            self.last_count = await self.repository.count_items()
            self.runs += 1
            self.ticked.set()
            log.debug("worker run %d: %d item(s)", self.runs, self.last_count)
            await asyncio.sleep(self.interval)
