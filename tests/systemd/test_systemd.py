"""sd_notify over a real AF_UNIX datagram socket (a path and an abstract name)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from haraka_di import Orchestrator, Service
from haraka_di._systemd import SystemdNotifier, notify, watchdog_interval

from ..cli.support import Child, haraka


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound SOCK_DGRAM socket and the NOTIFY_SOCKET value that reaches it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address: str | bytes = str(tmp_path / "notify.sock")
        value = str(address)
    else:
        name = f"haraka-test-{uuid.uuid4().hex}"
        address, value = b"\0" + name.encode(), "@" + name
    sock.bind(address)
    sock.settimeout(30)
    try:
        yield sock, value
    finally:
        sock.close()


def receive_until(sock: socket.socket, wanted: str, into: list[str]) -> None:
    deadline = time.monotonic() + 30
    while not any(wanted in m.split("\n") for m in into):
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            into.append(sock.recv(4096).decode())
        except TimeoutError:
            raise AssertionError(f"no {wanted!r} datagram; got {into}") from None


def test_notify_reaches_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, value = listener
    assert notify("READY=1\nSTATUS=hello", value) is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=hello"


def test_notify_to_a_missing_socket_fails_softly(tmp_path: Path) -> None:
    assert notify("READY=1", str(tmp_path / "missing.sock")) is False
    assert notify("READY=1", "relative/path") is False


def test_a_missing_socket_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    assert notifier.send("WATCHDOG=1") is False
    assert notifier.send("WATCHDOG=1") is False
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"cannot notify systemd at NOTIFY_SOCKET={tmp_path / 'gone.sock'} "
        "(further failures are not logged)"
    ]


def test_watchdog_interval() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    mine = {"WATCHDOG_USEC": "300000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(mine) == 0.15
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert SystemdNotifier.from_env({}) is None


class First(Service):
    pass


class Late(Service):
    ready_on_startup = False


def test_ready_waits_for_every_service(listener: tuple[socket.socket, str]) -> None:
    sock, value = listener
    sock.settimeout(0.2)
    orchestrator = Orchestrator(handle_signals=False)
    orchestrator.use(First())
    late = orchestrator.use(Late())
    notifier = SystemdNotifier(value)
    notifier.bind(orchestrator)
    orchestrator.subscribe(notifier)
    messages: list[str] = []

    def drain() -> list[str]:
        got = []
        while True:
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                return got

    async def main() -> None:
        await orchestrator.run()
        messages.extend(drain())
        assert not any("READY=1" in m for m in messages), messages
        orchestrator.mark_ready(late.name)
        messages.extend(drain())
        assert sum("READY=1" in m for m in messages) == 1, messages
        orchestrator.mark_not_ready(late.name)
        orchestrator.mark_ready(late.name)
        await orchestrator.shutdown()
        messages.extend(drain())

    asyncio.run(main())
    assert messages[0] == "STATUS=Starting First (0/2 started)"
    assert "STATUS=Started Late (2/2 started)" in messages
    assert sum("READY=1" in m for m in messages) == 1
    assert messages[-3:] == [
        "STOPPING=1\nSTATUS=Stopping services",
        "STATUS=Stopping Late",
        "STATUS=Stopping First",
    ]


def test_cli_run_notifies_systemd(listener: tuple[socket.socket, str]) -> None:
    sock, value = listener
    env = {"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "100000"}
    messages: list[str] = []
    with Child(
        "run", "tests.cli.targets:Small", "--set", "config.late_seconds=0.2", env=env
    ) as child:
        receive_until(sock, "READY=1", messages)
        ready_at = len(messages)
        while sum(m == "WATCHDOG=1" for m in messages[ready_at:]) < 2:
            messages.append(sock.recv(4096).decode())
        child.send(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", messages)
        assert child.finish() == 0, child.stderr
    statuses = [m for m in messages if m.startswith("STATUS=")]
    assert statuses[0] == "STATUS=Starting a (0/4 started)"
    assert (
        "STATUS=Started c (4/4 started)" in statuses
        or "STATUS=Started late (4/4 started)" in statuses
    )
    ready = next(m for m in messages if m.startswith("READY=1"))
    assert ready == "READY=1\nSTATUS=Running: 4 service(s) ready"
    assert "late is ready" in child.stderr  # READY=1 waited for the late service
    assert messages.index(ready) > messages.index(
        "STATUS=Started; waiting for services to become ready"
    )
    assert sum(m.startswith("READY=1") for m in messages) == 1
    assert "STOPPING=1\nSTATUS=Stopping services" in messages


def test_a_failed_start_is_in_the_status(listener: tuple[socket.socket, str]) -> None:
    sock, value = listener
    result = haraka(
        "run", "tests.cli.targets:Small", "--set", "config.fail=b", env={"NOTIFY_SOCKET": value}
    )
    assert result.returncode == 1
    sock.settimeout(0.5)
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    assert "STATUS=Service b failed: RuntimeError: b cannot connect" in messages
    assert "STOPPING=1\nSTATUS=Stopping services" in messages
    assert not any(m.startswith("READY=1") for m in messages)
