"""The reference application: real uvicorn on a free port, real SQLite."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from containers.app import Application
from haraka_di import StartupError
from haraka_di.cli import load_config

from ..cli.support import Child, haraka

CONFIG = "containers/app.yaml"


def orchestrator_for(*overrides: str) -> Any:
    settings = load_config(
        CONFIG,
        ["config.server.port=0", "config.server.log_level=warning", *overrides],
        environ={},
    )
    return settings.apply(Application(), handle_signals=False)


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
    assert {r.name: r.state.value for r in orchestrator.report()} == dict.fromkeys(
        ["db", "cache", "worker", "http"], "stopped"
    )


async def test_cache_gates_readiness_until_warm(tmp_path: Path) -> None:
    orchestrator = orchestrator_for("config.cache.warmup_seconds=60")
    async with orchestrator.running():
        url = orchestrator.services["http"].url
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["services"]["cache"] == {"state": "started", "ready": False}
            gated = await client.get("/items")
            assert gated.status_code == 503
            assert gated.headers["retry-after"] == "5"
            assert (await client.get("/health/live")).status_code == 200


async def test_items_persist_in_a_database_file(tmp_path: Path) -> None:
    path = f"config.db.path={tmp_path / 'items.db'}"
    for expected in (0, 1):
        orchestrator = orchestrator_for(path, "config.cache.warmup_seconds=0")
        async with orchestrator.running():
            await orchestrator.wait_for_all_ready(timeout=30)
            db = orchestrator.services["db"]
            assert await db.count_items() == expected
            if expected == 0:
                await db.create_item("kept", 1)


async def test_db_in_a_missing_directory_fails_startup(tmp_path: Path) -> None:
    orchestrator = orchestrator_for(f"config.db.path={tmp_path / 'missing' / 'app.db'}")
    with pytest.raises(StartupError) as info:
        await orchestrator.run()
    assert info.value.services == ("db",)
    assert "unable to open database file" in str(info.value)
    assert all(r.state.value in ("pending", "failed") for r in orchestrator.report())


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
        child.wait_for("all 4 service(s) ready")
        base = url.group(1)
        assert httpx.get(f"{base}/health/ready", timeout=30).status_code == 200
        made = httpx.post(f"{base}/items", json={"name": "x", "quantity": 2}, timeout=30)
        assert made.status_code == 201
        child.send(signal.SIGINT)
        assert child.finish() == 0, child.stderr
    stops = [line.rsplit(" ", 1)[1] for line in child.stderr.splitlines() if ": stopped " in line]
    assert (
        stops[0] == "http" and stops[-1] == "db" and set(stops) == {"http", "worker", "cache", "db"}
    )


def test_cli_startup_failure_names_the_service(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "app.db"
    result = haraka(
        "run", "containers.app:Application", "-c", CONFIG, "--set", f"config.db.path={missing}"
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "haraka run: error: Startup failed: 'db': OperationalError: unable to open"
    )
    assert "Traceback" not in result.stderr


def test_check_and_graph_the_application() -> None:
    check = haraka("check", "containers.app:Application", "--config", CONFIG)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(
        "OK: containers.app:Application: 4 service(s), 2 dependency edge(s)"
    )
    graph = haraka("graph", "containers.app:Application", "--config", CONFIG)
    assert "http    priority LAST  [UvicornService]" in graph.stdout
    assert "stop order: http -> worker -> cache -> db" in graph.stdout


def test_the_worker_counts_items(tmp_path: Path) -> None:
    async def main() -> int:
        orchestrator = orchestrator_for("config.worker.interval_seconds=0.01")
        async with orchestrator.running():
            worker = orchestrator.services["worker"]
            await orchestrator.services["db"].create_item("one", 1)
            for _ in range(2):  # a run already under way may have counted before
                worker.ticked.clear()
                await asyncio.wait_for(worker.ticked.wait(), 30)
            assert worker.last_count == 1
            return int(worker.runs)

    assert asyncio.run(main()) >= 1
