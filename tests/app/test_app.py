"""The reference application in-process: real uvicorn on a free port, real SQLite."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from containers.app import Application
from haraka_di import StartupError
from haraka_di.cli import load_config

from ..cli.support import Child, haraka

CONFIG = "containers/app.yaml"
_containers: list[Application] = []


def orchestrator_for(*overrides: str) -> Any:
    settings = load_config(
        CONFIG,
        ["config.server.port=0", "config.server.log_level=warning", *overrides],
        environ={},
    )
    container = Application()
    _containers.append(container)
    return settings.apply(container, handle_signals=False)


async def shutdown_resources() -> None:
    """What dependency-injector users call after a run: a no-op, since the
    orchestrator stops the db Resource itself (test_database.py asserts it);
    kept as a safety net so a failing test leaves no engine open."""
    while _containers:
        result = _containers.pop().shutdown_resources()
        if result is not None:
            await result


@pytest.fixture(autouse=True)
async def _close_engines() -> AsyncIterator[None]:
    yield
    await shutdown_resources()


async def test_crud_health_and_ops_routes(tmp_path: Path) -> None:
    orchestrator = orchestrator_for(f"config.db.path={tmp_path / 'app.db'}")
    async with orchestrator.running():
        url = orchestrator.services["http"].url
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await orchestrator.wait_for_all_ready(timeout=30)
            assert (await client.get("/health/ready")).status_code == 200
            created = await client.post("/items", json={"name": "apple", "quantity": 3})
            assert created.status_code == 201
            item = created.json()
            assert item == {"id": 1, "name": "apple", "quantity": 3}
            assert (await client.get("/items")).json() == [item]
            assert (await client.get("/items/1")).json() == item
            updated = await client.put("/items/1", json={"name": "pear", "quantity": 1})
            assert updated.json() == {"id": 1, "name": "pear", "quantity": 1}
            assert (await client.get("/items/1")).json()["name"] == "pear"
            assert (await client.post("/items", json={"name": ""})).status_code == 422
            assert (await client.delete("/items/1")).status_code == 204
            assert (await client.get("/items/1")).status_code == 404
            assert (await client.delete("/items/1")).status_code == 404
            assert (await client.put("/items/9", json={"name": "x"})).status_code == 404
            assert (await client.get("/slow", params={"seconds": 0.01})).json() == {"slept": 0.01}
            stats = (await client.get("/stats")).json()
            assert stats["worker_runs"] >= 1
            assert stats["cache"]["warm"] is True
            assert (await client.get("/docs")).status_code == 200
    assert orchestrator.docs_url == f"{url}/docs"
    states = {r.name: r.state.value for r in orchestrator.report()}
    assert {states[name] for name in ("cache", "worker", "http")} == {"stopped"}


async def test_an_in_memory_database_is_one_database_for_every_connection() -> None:
    # One connection lent to one task at a time: a second connection would
    # open its own, empty, in-memory database (no items table, no items), and
    # one connection shared by concurrent tasks would interleave their inserts.
    orchestrator = orchestrator_for("config.cache.warmup_seconds=0")  # db.path :memory:
    async with orchestrator.running():
        await orchestrator.wait_for_all_ready(timeout=30)
        repository = orchestrator.services["cache"].repository
        made = await asyncio.gather(*(repository.create_item(f"n{i}", i) for i in range(5)))
        assert sorted(item["id"] for item in made) == [1, 2, 3, 4, 5]
        assert await orchestrator.services["worker"].repository.count_items() == 5
        url = orchestrator.services["http"].url
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            # the warm cache misses, reads through to the same database
            assert (await client.get("/items/3")).json() == {"id": 3, "name": "n2", "quantity": 2}


async def test_cache_gates_readiness_until_warm() -> None:
    orchestrator = orchestrator_for("config.cache.warmup_seconds=60")
    async with orchestrator.running():
        url = orchestrator.services["http"].url
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            services = ready.json()["services"]
            assert services["cache"] == {"kind": "Service", "state": "started", "ready": False}
            assert services["db"] == {"kind": "Resource", "state": "ready", "ready": True}
            gated = await client.get("/items")
            assert gated.status_code == 503
            assert gated.headers["retry-after"] == "5"
            assert (await client.get("/health/live")).status_code == 200


@pytest.mark.parametrize("key", ["path", "url"])
async def test_items_persist_in_a_database_file(tmp_path: Path, key: str) -> None:
    file = tmp_path / "items.db"
    setting = (
        f"config.db.path={file}" if key == "path" else f"config.db.url=sqlite+aiosqlite:///{file}"
    )
    for expected in (0, 1):
        orchestrator = orchestrator_for(setting, "config.cache.warmup_seconds=0")
        async with orchestrator.running():
            await orchestrator.wait_for_all_ready(timeout=30)
            repository = orchestrator.services["cache"].repository
            assert await repository.count_items() == expected
            if expected == 0:
                await repository.create_item("kept", 1)
    assert file.exists()


async def test_db_url_wins_over_db_path(tmp_path: Path) -> None:
    by_url, by_path = tmp_path / "url.db", tmp_path / "path.db"
    orchestrator = orchestrator_for(
        f"config.db.url=sqlite+aiosqlite:///{by_url}", f"config.db.path={by_path}"
    )
    async with orchestrator.running():
        await orchestrator.services["cache"].repository.create_item("x", 1)
    assert by_url.exists() and not by_path.exists()


async def test_db_in_a_missing_directory_fails_startup(tmp_path: Path) -> None:
    orchestrator = orchestrator_for(f"config.db.path={tmp_path / 'missing' / 'app.db'}")
    with pytest.raises(StartupError) as info:
        await orchestrator.run()
    assert "unable to open database file" in str(info.value)
    assert all(r.state.value in ("pending", "failed") for r in orchestrator.report())


async def test_db_in_a_missing_directory_fails_the_db_node(tmp_path: Path) -> None:
    orchestrator = orchestrator_for(f"config.db.path={tmp_path / 'missing' / 'app.db'}")
    with pytest.raises(StartupError) as info:
        await orchestrator.run()
    assert info.value.services == ("db",)


def test_cli_runs_the_application_until_sigint(tmp_path: Path) -> None:
    args = ["--config", CONFIG, "--set", "config.server.port=0"]
    args += [
        "--set",
        f"config.db.path={tmp_path / 'app.db'}",
        "--set",
        "config.worker.interval_seconds=0.05",
    ]
    with Child("run", "containers.app:Application", *args) as child:
        docs = child.wait_for("API docs at http://127.0.0.1:")
        url = re.search(r"(http://127\.0\.0\.1:\d+)/docs", docs)
        assert url is not None
        child.wait_for("all 4 node(s) ready (3 service(s), 1 resource(s))")
        base = url.group(1)
        assert httpx.get(f"{base}/health/ready", timeout=30).status_code == 200
        made = httpx.post(f"{base}/items", json={"name": "x", "quantity": 2}, timeout=30)
        assert made.status_code == 201
        child.send(signal.SIGINT)
        assert child.finish() == 0, child.stderr
    stops = [line.rsplit(" ", 1)[1] for line in child.stderr.splitlines() if ": stopped " in line]
    assert stops[0] == "http" and stops[-1] == "db", stops  # the Resource stops last
    assert sorted(stops[1:3]) == ["cache", "worker"], stops


def test_cli_startup_failure_names_the_cause(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "app.db"
    result = haraka(
        "run", "containers.app:Application", "-c", CONFIG, "--set", f"config.db.path={missing}"
    )
    assert result.returncode == 1
    # SQLAlchemy's message goes on with a "(Background on this error at: ...)" line
    error = result.stderr[result.stderr.index("haraka run: error: Startup failed: '") :]
    assert "OperationalError" in error and "unable to open database file" in error
    assert "Traceback" not in result.stderr


def test_cli_startup_failure_names_the_db_node(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "app.db"
    result = haraka(
        "run", "containers.app:Application", "-c", CONFIG, "--set", f"config.db.path={missing}"
    )
    assert "haraka run: error: Startup failed: 'db': OperationalError: " in result.stderr


def test_check_and_graph_the_application() -> None:
    check = haraka("check", "containers.app:Application", "--config", CONFIG)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("OK: containers.app:Application: ")
    graph = haraka("graph", "containers.app:Application", "--config", CONFIG)
    assert graph.returncode == 0, graph.stderr
    assert "http    priority LAST  [Service: UvicornService]" in graph.stdout
    assert "stop order: http -> worker -> cache" in graph.stdout


def test_check_and_graph_show_the_db_resource() -> None:
    check = haraka("check", "containers.app:Application", "--config", CONFIG)
    assert check.stdout == (
        "OK: containers.app:Application: 4 node(s) (3 service(s), 1 resource(s)), "
        f"2 dependency edge(s), 3 wave(s); config {CONFIG}\n"
    )
    graph = haraka("graph", "containers.app:Application", "--config", CONFIG)
    assert "stop order: http -> worker -> cache -> db" in graph.stdout
    assert "    1. db      priority 0  [Resource: init_database]" in graph.stdout
    # cache and worker depend on it through `items`, a Factory of a plain class
    assert "    2. cache   priority 0  [Service: Cache]  <- db" in graph.stdout
    assert "    3. worker  priority 0  [Service: Worker]  <- db" in graph.stdout


def test_the_worker_counts_items() -> None:
    async def main() -> int:
        orchestrator = orchestrator_for("config.worker.interval_seconds=0.01")
        async with orchestrator.running():
            worker = orchestrator.services["worker"]
            await worker.repository.create_item("one", 1)
            for _ in range(2):  # a run already under way may have counted before
                worker.ticked.clear()
                await asyncio.wait_for(worker.ticked.wait(), 30)
            assert worker.last_count == 1
            runs = int(worker.runs)
        await shutdown_resources()  # in this event loop
        return runs

    assert asyncio.run(main()) >= 1
