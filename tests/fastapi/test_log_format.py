"""One log format on the console (issue 15, item 4), in real child processes.

- ``haraka run``: uvicorn's loggers go through haraka's format; the access
  log stays optional (``config.server.access_log``).
- ``uvicorn module:app`` driving a ``lifespan()``: haraka's startup lines go
  through uvicorn's logging, at uvicorn's level.
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from haraka_di._logs import server_logging

from ..cli.support import Child
from .support import free_port
from .test_process import Child as ProcessChild
from .test_process import wait_ready

pytestmark = pytest.mark.timeout(120)

HARAKA_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: \S")


def other_lines(lines: list[str]) -> list[str]:
    """Lines not in haraka's format, leaving out the timeline table (a table
    written as one block: NODE header through ``startup took``)."""
    others, in_table = [], False
    for line in lines:
        if line.startswith("NODE "):
            in_table = True
        elif in_table:
            in_table = not line.startswith("startup took ")
        elif line != "<EOF>" and not HARAKA_LINE.match(line):
            others.append(line)
    return others


def reference_app(*sets: str) -> Child:
    args = ["run", "containers.app:Application", "--config", "containers/app.yaml"]
    for item in ("config.server.port=0", "config.cache.warmup_seconds=0", *sets):
        args += ["--set", item]
    return Child(*args)


def port_of(child: Child) -> int:
    line = child.wait_for("Uvicorn running on http://")
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match is not None, line
    return int(match.group(1))


@pytest.mark.parametrize("access_log", [True, False])
def test_haraka_run_shows_uvicorn_in_harakas_one_format(access_log: bool) -> None:
    with reference_app(f"config.server.access_log={str(access_log).lower()}") as child:
        port = port_of(child)
        child.wait_for("all 4 node(s) ready (3 service(s), 1 resource(s))")
        response = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=10)
        assert response.status_code == 200
        if access_log:  # uvicorn logs the access line before it sends the response
            line = child.wait_for('"GET /health/live HTTP/1.1" 200')
            assert " INFO    uvicorn.access: 127.0.0.1:" in line, line
        child.send(signal.SIGTERM)
        assert child.finish() == 0, child.stderr
    assert other_lines(child.lines) == [], child.stderr
    assert "uvicorn.error: Started server process" in child.stderr
    assert "uvicorn.error: Finished server process" in child.stderr
    assert ("GET /health/live" in child.stderr) is access_log, child.stderr
    assert child.stdout == ""  # uvicorn's access log went to stdout in its own format


def lifespan_lines(child: Child) -> list[str]:
    return [line for line in child.lines if "haraka_di" in line]


def test_uvicorn_app_shows_harakas_startup_in_uvicorns_format() -> None:
    args = ("tests.fastapi.bare_lifespan_app:app", "--port", "0")
    with Child(*args, module="uvicorn") as child:
        child.wait_for("Application startup complete.")
        started = lifespan_lines(child)
        child.send(signal.SIGTERM)
        child.finish()
    plan = "INFO:     haraka_di: starting 3 service(s) in 3 wave(s): db, cache, api"
    assert started[0] == plan, child.stderr
    assert [re.sub(r" in [\d.]+ ms$", "", line) for line in started[1:4]] == [
        f"INFO:     haraka_di: started {name}" for name in ("db", "cache", "api")
    ], child.stderr
    assert started[4] == "INFO:     haraka_di: startup timeline:", child.stderr
    table = child.lines[child.lines.index(started[4]) + 1 :][:5]
    assert table[0].split() == ["NODE", "KIND", "WAVE", "START", "DURATION", "READY"], child.stderr
    assert [row.split()[0] for row in table[1:4]] == ["db", "cache", "api"], child.stderr
    assert table[4].startswith("startup took "), child.stderr
    assert lifespan_lines(child)[-3:] == [
        f"INFO:     haraka_di: stopped {name}" for name in ("api", "cache", "db")
    ], child.stderr


def test_uvicorn_log_level_applies_to_harakas_lines() -> None:
    port = free_port()
    args = ("tests.fastapi.bare_lifespan_app:app", "--port", str(port), "--log-level", "warning")
    child = ProcessChild("-m", "uvicorn", *args)
    try:
        wait_ready(child, port)
        child.proc.send_signal(signal.SIGTERM)
        child.wait(30)
    finally:
        child.kill()
    assert "haraka_di" not in child.log, child.log


# -- the bridge in-process ------------------------------------------------------


@contextmanager
def no_logging_configured(server_handler: logging.Handler) -> Iterator[logging.Logger]:
    """The haraka_di logger as in a program that configured no logging, and
    uvicorn.error with one handler. Entered in the test's body: pytest 9
    attaches its own handlers to non-propagating loggers when a test starts."""
    ours, server = logging.getLogger("haraka_di"), logging.getLogger("uvicorn.error")
    saved = [(lg, lg.propagate, lg.level, list(lg.handlers)) for lg in (ours, server)]
    ours.propagate, ours.handlers = False, []
    ours.setLevel(logging.NOTSET)
    server.propagate, server.handlers = False, [server_handler]
    server.setLevel(logging.INFO)
    try:
        yield ours
    finally:
        for logger, propagate, level, handlers in saved:
            logger.propagate, logger.handlers = propagate, handlers
            logger.setLevel(level)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def test_nested_bridges_share_one_and_the_last_to_close_removes_it() -> None:
    lines = Lines()
    with no_logging_configured(lines) as ours, server_logging() as outer:
        with server_logging() as inner:
            logging.getLogger("haraka_di.x").info("one")
            logging.getLogger("haraka_di").debug("below uvicorn's level")
        assert len(ours.handlers) == 1  # one bridge, still open
        assert ours.level == logging.INFO  # uvicorn.error's
        logging.getLogger("haraka_di").warning("two")
    with no_logging_configured(lines) as ours:
        logging.getLogger("haraka_di").warning("after")  # no bridge any more
        assert (ours.handlers, ours.level) == ([], logging.NOTSET)
    assert (outer, inner) == (True, True)
    assert lines.lines == ["INFO haraka_di.x: one", "WARNING haraka_di: two"]


def test_no_bridge_when_the_application_configured_logging() -> None:
    server, own = Lines(), Lines()
    with no_logging_configured(server) as ours:
        ours.addHandler(own)
        with server_logging() as forwarding:
            logging.getLogger("haraka_di").warning("mine")
    assert forwarding is False
    assert own.lines == ["WARNING mine"]
    assert server.lines == []
