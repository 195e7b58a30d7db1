"""The reference application's services: a database, a cache and a worker.

Each is a :class:`haraka_di.Service`; the container (``containers.app``) wires
them, and their constructor arguments are the dependency graph: the cache and
the worker take the database, so the database starts first and stops last.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from haraka_di import Runtime, Service

__all__ = ["Cache", "Database", "Item", "Worker"]

log = logging.getLogger("containers")

T = TypeVar("T")

Item = dict[str, Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 0
)
"""


class Database(Service):
    """SQLite (stdlib ``sqlite3``) run off the event loop with ``asyncio.to_thread``.

    One connection, used by one thread at a time (an asyncio lock serialises
    the calls), so ``:memory:`` works as well as a file. The schema is
    created at startup; a path in a missing directory fails the startup.
    """

    def __init__(self, runtime: Runtime, path: str = ":memory:") -> None:
        super().__init__(runtime)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def startup(self) -> None:
        self._conn = await asyncio.to_thread(self._open)
        log.info("database %s ready (schema created)", self.path)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    async def shutdown(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await asyncio.to_thread(conn.close)

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError(f"database {self.name!r} is not open")
            return await asyncio.to_thread(fn, conn)

    async def list_items(self) -> list[Item]:
        rows = await self._call(lambda c: c.execute("SELECT * FROM items ORDER BY id").fetchall())
        return [dict(row) for row in rows]

    async def get_item(self, item_id: int) -> Item | None:
        def query(c: sqlite3.Connection) -> Any:
            return c.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()

        row = await self._call(query)
        return dict(row) if row is not None else None

    async def create_item(self, name: str, quantity: int) -> Item:
        def insert(c: sqlite3.Connection) -> int | None:
            sql = "INSERT INTO items (name, quantity) VALUES (?, ?)"
            return c.execute(sql, (name, quantity)).lastrowid

        item_id = await self._call(insert)
        return {"id": item_id, "name": name, "quantity": quantity}

    async def update_item(self, item_id: int, name: str, quantity: int) -> Item | None:
        def update(c: sqlite3.Connection) -> int:
            sql = "UPDATE items SET name = ?, quantity = ? WHERE id = ?"
            return c.execute(sql, (name, quantity, item_id)).rowcount

        changed = await self._call(update)
        return {"id": item_id, "name": name, "quantity": quantity} if changed else None

    async def delete_item(self, item_id: int) -> bool:
        def delete(c: sqlite3.Connection) -> int:
            return c.execute("DELETE FROM items WHERE id = ?", (item_id,)).rowcount

        return bool(await self._call(delete))

    async def count_items(self) -> int:
        def count(c: sqlite3.Connection) -> int:
            return int(c.execute("SELECT COUNT(*) FROM items").fetchone()[0])

        return await self._call(count)


class Cache(Service):
    """A read-through, write-through cache of the items.

    It warms up in the background (``runtime.spawn``) and only then marks
    itself ready: ``ready_on_startup = False``. Until then reads go to the
    database and the readiness probe says 503.
    """

    ready_on_startup = False

    def __init__(self, runtime: Runtime, db: Database, warmup_seconds: float = 0.5) -> None:
        super().__init__(runtime)
        self.db = db
        self.warmup_seconds = warmup_seconds
        self.items: dict[int, Item] = {}
        self.warm = False
        self.hits = 0
        self.misses = 0

    async def startup(self) -> None:
        self.runtime.spawn(self._warm_up, name=f"{self.name}: warm-up")

    async def _warm_up(self) -> None:
        await asyncio.sleep(self.warmup_seconds)  # stands in for a slow bulk load
        for item in await self.db.list_items():
            self.items.setdefault(item["id"], item)
        self.warm = True
        log.info("cache warmed up with %d item(s)", len(self.items))
        self.runtime.mark_ready(self.name)

    async def shutdown(self) -> None:
        self.items.clear()
        self.warm = False

    async def list(self) -> list[Item]:
        if not self.warm:
            return await self.db.list_items()
        return [self.items[k] for k in sorted(self.items)]

    async def get(self, item_id: int) -> Item | None:
        item = self.items.get(item_id)
        if item is not None:
            self.hits += 1
            return item
        self.misses += 1
        item = await self.db.get_item(item_id)
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

    def __init__(self, runtime: Runtime, db: Database, interval: float = 5.0) -> None:
        super().__init__(runtime)
        if interval <= 0:
            raise ValueError(f"worker interval must be > 0 seconds, got {interval!r}")
        self.db = db
        self.interval = interval
        self.runs = 0
        self.last_count: int | None = None
        self.ticked = asyncio.Event()  # set after every run (tests wait on it)

    async def startup(self) -> None:
        self.runtime.spawn(self._loop, name=f"{self.name}: periodic")

    async def _loop(self) -> None:
        while True:
            self.last_count = await self.db.count_items()
            self.runs += 1
            self.ticked.set()
            log.debug("worker run %d: %d item(s)", self.runs, self.last_count)
            await asyncio.sleep(self.interval)
