"""The reference application's database: a providers.Resource over SQLAlchemy's
async engine, and the plain repository around it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy.pool import AsyncAdaptedQueuePool

from containers.app import Application
from containers.services import ItemRepository, database_url, engine_options, init_database
from haraka_di.testing import run_services


def open_files(path: Path) -> list[str]:
    """This process's open file descriptors on ``path`` (Linux /proc)."""
    fds = Path("/proc/self/fd")
    if not fds.exists():
        pytest.skip("needs /proc/self/fd")
    found = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target == str(path):
            found.append(target)
    return found


def test_database_url_prefers_url_then_path() -> None:
    assert database_url() == "sqlite+aiosqlite://"
    assert database_url(path=":memory:") == "sqlite+aiosqlite://"
    assert database_url(path="/var/lib/app/items.db") == "sqlite+aiosqlite:////var/lib/app/items.db"
    assert database_url(path="items.db") == "sqlite+aiosqlite:///items.db"
    postgres = "postgresql+asyncpg://app:secret@db:5432/app"
    assert database_url(url=postgres, path="ignored.db") == postgres
    assert database_url(url="", path="items.db") == "sqlite+aiosqlite:///items.db"
    with pytest.raises(TypeError, match=r"config db\.path must be a string"):
        database_url(path={":memory": None})  # type: ignore[arg-type]  # an unquoted --set


def test_only_in_memory_sqlite_gets_a_pool_of_one_connection() -> None:
    for memory in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
        options = engine_options(memory)
        assert options["poolclass"] is AsyncAdaptedQueuePool
        assert (options["pool_size"], options["max_overflow"]) == (1, 0)
    assert engine_options("sqlite+aiosqlite:///items.db") == {}
    assert engine_options("postgresql+asyncpg://app@db/app") == {}


async def test_the_resource_creates_the_schema_yields_the_engine_and_disposes_it(
    tmp_path: Path,
) -> None:
    file = tmp_path / "items.db"
    resource = init_database(f"sqlite+aiosqlite:///{file}")
    engine = await anext(resource)
    repository = ItemRepository(engine)
    assert await repository.create_item("a", 1) == {"id": 1, "name": "a", "quantity": 1}
    assert open_files(file)
    with pytest.raises(StopAsyncIteration):
        await anext(resource)
    assert open_files(file) == []  # disposed: every pooled connection closed
    assert engine.pool.checkedout() == 0


async def test_the_resource_disposes_the_engine_when_the_schema_fails(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    resource = init_database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'items.db'}")
    with pytest.raises(Exception, match="unable to open database file"):
        await anext(resource)
    # and the failed connection's aiosqlite worker thread has finished
    workers = {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}
    assert workers <= before


async def test_run_services_opens_the_database_for_the_services(tmp_path: Path) -> None:
    container = Application()
    container.config.from_dict({"db": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    only = ["cache", "worker"]
    try:
        async with run_services(container, only=only) as orchestrator:
            cache, worker = orchestrator.services["cache"], orchestrator.services["worker"]
            assert cache.repository.engine is worker.repository.engine  # one engine
            await cache.repository.create_item("x", 1)
            assert await worker.repository.count_items() == 1
    finally:
        await container.shutdown_resources()  # a no-op once Resources are nodes


async def test_the_engine_is_disposed_after_shutdown(tmp_path: Path) -> None:
    file = tmp_path / "items.db"
    container = Application()
    container.config.from_dict({"db": {"path": str(file)}})
    try:
        async with run_services(container, only=["cache", "worker"]) as orchestrator:
            engine = orchestrator.services["cache"].repository.engine
            await orchestrator.services["cache"].repository.create_item("x", 1)
            assert container.db.initialized
            assert open_files(file)
        assert not container.db.initialized  # stopped by the orchestrator, exactly once
        assert open_files(file) == []  # the file database is closed
        assert engine.pool.checkedout() == 0
    finally:
        await container.shutdown_resources()


async def test_a_second_run_of_the_same_container_opens_a_new_engine(tmp_path: Path) -> None:
    container = Application()
    container.config.from_dict({"db": {"path": str(tmp_path / "items.db")}})
    engines = []
    try:
        for expected in (0, 1):
            async with run_services(container, only=["cache"]) as orchestrator:
                repository = orchestrator.services["cache"].repository
                engines.append(repository.engine)
                assert await repository.count_items() == expected
                if expected == 0:
                    await repository.create_item("kept", 1)
            assert not container.db.initialized
        assert engines[0] is not engines[1]
    finally:
        await container.shutdown_resources()
