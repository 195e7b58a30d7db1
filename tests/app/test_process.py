"""The reference application in a real child process, as README runs it:
CRUD over real HTTP against a SQLite file, SIGTERM, and the file again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from ..fastapi.support import free_port, listening
from ..fastapi.test_process import Child, wait_ready

pytestmark = pytest.mark.timeout(180)
GRACE = 30.0


def run_app(port: int, database: Path) -> Child:
    return Child(
        *("-m", "haraka_di", "run", "containers.app:Application"),
        *("--config", "containers/app.yaml"),
        *("--set", f"config.server.port={port}"),
        *("--set", f"config.db.url=sqlite+aiosqlite:///{database}"),
        *("--set", "config.cache.warmup_seconds=0"),
    )


def stop(child: Child) -> int:
    child.proc.send_signal(signal.SIGTERM)
    return child.wait(GRACE)


def test_crud_over_http_then_sigterm_then_the_data_is_there_on_the_next_run(
    tmp_path: Path,
) -> None:
    database = tmp_path / "items.db"
    port = free_port()
    child = run_app(port, database)
    try:
        wait_ready(child, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            made = [
                http.post("/items", json={"name": n, "quantity": q})
                for n, q in [("a", 1), ("b", 2)]
            ]
            assert [r.status_code for r in made] == [201, 201]
            assert http.put("/items/2", json={"name": "b2", "quantity": 5}).status_code == 200
            assert http.post("/items", json={"name": "gone"}).json()["id"] == 3
            assert http.delete("/items/3").status_code == 204
            assert http.get("/items/3").status_code == 404
            before = http.get("/items").json()
        status = stop(child)
    finally:
        child.kill()
    assert status == 0, child.log
    assert before == [
        {"id": 1, "name": "a", "quantity": 1},
        {"id": 2, "name": "b2", "quantity": 5},
    ]
    assert not listening(port)
    assert f"database sqlite+aiosqlite:///{database} closed" in child.log

    port = free_port()
    again = run_app(port, database)
    try:
        wait_ready(again, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert http.get("/items").json() == before  # from the file, through the cache
            assert http.get("/items/2").json() == before[1]
            assert http.post("/items", json={"name": "c"}).json()["id"] == 4
        status = stop(again)
    finally:
        again.kill()
    assert status == 0, again.log


def test_the_db_resource_starts_first_and_closes_after_its_dependents(tmp_path: Path) -> None:
    port = free_port()
    child = run_app(port, tmp_path / "items.db")
    try:
        wait_ready(child, port)
        started = time.monotonic()
        status = stop(child)
        assert time.monotonic() - started < GRACE
    finally:
        child.kill()
    assert status == 0, child.log
    assert child.stopped()[-1] == "db", child.log
    assert child.stopped()[0] == "http", child.log
