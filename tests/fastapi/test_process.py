"""Real processes, real signals, real HTTP: the way Kubernetes runs the app.

Managed serving runs the reference application through the CLI
(``python -m haraka_di run containers.app:Application``); lifespan mode runs
``python -m uvicorn`` on a small app. Readiness is polled over HTTP the way
a kubelet probe does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .support import free_port, listening

ROOT = Path(__file__).parents[2]
GRACE = 30.0  # terminationGracePeriodSeconds of these "pods"
DRAIN = 2.0
SLOW = DRAIN + 3.0  # in flight past the drain, when uvicorn stops accepting

pytestmark = pytest.mark.timeout(180)


class Child:
    """A child process whose stderr is collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop_outcomes(self) -> list[str]:
        """Services in the order their stop ended (stopped, or cut short)."""
        pattern = re.compile(r"haraka_di: (?:stopped (\S+)$|service (\S+) failed to stop)")
        return [m.group(1) or m.group(2) for m in map(pattern.search, self.lines) if m]

    def stopped(self) -> list[str]:
        return [
            m.group(1)
            for m in map(re.compile(r"haraka\S*: stopped (\S+)$").search, self.lines)
            if m
        ]

    def wait(self, timeout: float) -> int:
        try:
            status = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def probe(port: int, path: str = "/health/ready") -> httpx.Response | None:
    """One kubelet-style probe: a fresh connection, a short timeout."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except httpx.HTTPError:
        return None


def wait_ready(child: Child, port: int, deadline: float = 60.0) -> None:
    """Probe readiness every 100 ms (as a readinessProbe with periodSeconds
    would) until 200; fail if the child exits or the deadline passes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if child.proc.poll() is not None:
            raise AssertionError(f"child exited {child.proc.returncode}:\n{child.log}")
        response = probe(port)
        if response is not None and response.status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready within {deadline}s:\n{child.log}")


def send_request(port: int, target: str) -> socket.socket:
    """Send a raw GET and return the socket: once sendall returns, the
    request is in the server's receive buffer (no race with a signal)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
    return sock


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    with sock:
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def run_reference_app(port: int, *sets: str) -> Child:
    args = ["-m", "haraka_di", "run", "containers.app:Application"]
    args += ["--config", "containers/app.yaml", "--set", f"config.server.port={port}"]
    args += ["--set", "config.server.access_log=false"]
    for item in sets:
        args += ["--set", item]
    return Child(*args)


def test_sigterm_drains_then_stops_in_reverse_dependency_order_and_exits_0() -> None:
    port = free_port()
    child = run_reference_app(port, f"orchestrator.drain_seconds={DRAIN}")
    try:
        wait_ready(child, port)
        slow = send_request(port, f"/slow?seconds={SLOW}")
        sent = time.monotonic()
        child.proc.send_signal(signal.SIGTERM)
        # During the drain the server still answers, but readiness says 503.
        seen: list[int] = []
        while 503 not in seen and time.monotonic() < sent + 30:
            response = probe(port)
            if response is None:
                break  # no longer accepting: the drain is over
            seen.append(response.status_code)
            if response.status_code == 503:
                assert response.json()["state"] == "stopping"
        assert 503 in seen, f"readiness never dropped during the drain: {seen}\n{child.log}"
        status, body = read_response(slow)
        assert status == 200, child.log
        assert json.loads(body) == {"slept": SLOW}
        exit_status = child.wait(GRACE)
        took = time.monotonic() - sent
    finally:
        child.kill()
    assert exit_status == 0, child.log
    assert took < GRACE
    stopped = child.stopped()
    assert stopped[0] == "http" and stopped[-1] == "db", child.log
    assert sorted(stopped[1:-1]) == ["cache", "worker"], child.log
    assert child.log.index("draining for") < child.log.index("stopped http")
    # /slow was still in flight when uvicorn stopped accepting, and uvicorn waited for it
    assert "Waiting for connections to close" in child.log
    assert not listening(port)


def test_a_second_signal_forces_the_stop_without_waiting_for_requests() -> None:
    port = free_port()
    child = run_reference_app(port)
    try:
        wait_ready(child, port)
        slow = send_request(port, "/slow?seconds=120")
        child.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 30
        while "Waiting for connections to close" not in child.log:  # uvicorn waits for /slow
            assert time.monotonic() < end, child.log
            time.sleep(0.05)
        forced = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        exit_status = child.wait(GRACE)
        took = time.monotonic() - forced
        slow.close()
    finally:
        child.kill()
    assert exit_status == 128 + signal.SIGINT, child.log
    assert took < 10, f"the forced stop took {took:.1f}s"
    assert "forcing the shutdown" in child.log
    outcomes = child.stop_outcomes()  # the rest still stopped (or were cut short), in order
    assert outcomes[0] == "http" and outcomes[-1] == "db", child.log
    assert "stop of service 'http' was cut short by a forced shutdown" in child.log
    assert not listening(port)


@pytest.mark.parametrize("failing", ["db", "http"])
def test_startup_failure_exits_non_zero_naming_the_service(failing: str) -> None:
    port = free_port()
    blocker = None
    sets = []
    if failing == "db":
        sets.append(f"config.db.path={ROOT}/no/such/dir/items.db")
    else:  # the port is taken: uvicorn cannot bind
        blocker = socket.create_server(("127.0.0.1", port))
    child = run_reference_app(port, *sets)
    try:
        status = child.wait(GRACE)
    finally:
        child.kill()
        if blocker is not None:
            blocker.close()
    assert status != 0, child.log
    assert f"Startup failed: '{failing}'" in child.log
    assert "started http" not in child.log and "http ready" not in child.log
    assert not listening(port)


# -- lifespan mode: uvicorn owns the signals -----------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_uvicorn_with_the_lifespan_exits_promptly_on_a_signal(sig: signal.Signals) -> None:
    port = free_port()
    child = Child("-m", "uvicorn", "tests.fastapi.lifespan_app:app", "--port", str(port))
    try:
        wait_ready(child, port)
        sent = time.monotonic()
        child.proc.send_signal(sig)
        status = child.wait(GRACE)
        took = time.monotonic() - sent
    finally:
        child.kill()
    # uvicorn >= 0.29 shuts down gracefully, then re-raises the signal it
    # caught with the default disposition: SIGTERM ends the process "killed by
    # SIGTERM" (what a supervisor expects), SIGINT ends it with status 0.
    assert status == (-signal.SIGTERM if sig == signal.SIGTERM else 0), child.log
    assert took < 10, f"uvicorn took {took:.1f}s to exit"
    assert child.stopped() == ["api", "cache", "db"], child.log
    assert "Finished server process" in child.log
    assert not listening(port)


def test_uvicorn_with_the_lifespan_refuses_to_serve_when_startup_fails() -> None:
    port = free_port()
    child = Child(
        "-m",
        "uvicorn",
        "tests.fastapi.lifespan_app:app",
        "--port",
        str(port),
        env={"LIFESPAN_APP_FAIL": "cache"},
    )
    try:
        status = child.wait(GRACE)
    finally:
        child.kill()
    assert status == 3, child.log  # uvicorn's STARTUP_FAILURE
    assert "Startup failed: 'cache': ConnectionError: cache is unreachable" in child.log
    assert child.stopped() == ["db"], child.log
    assert "Application startup failed. Exiting." in child.log
    assert not listening(port)


def test_uvicorn_with_the_lifespan_serves_once_when_the_container_has_a_server() -> None:
    # issue 14: the UvicornService bound the same port again ("address
    # already in use") and uvicorn exited; it stands down instead
    port = free_port()
    child = Child(
        "-m",
        "uvicorn",
        "tests.fastapi.lifespan_app:served",
        "--port",
        str(port),
        env={"LIFESPAN_APP_SERVER_PORT": str(port)},
    )
    try:
        wait_ready(child, port)
        response = probe(port)
        assert response is not None
        assert response.json()["services"]["http"] == {
            "kind": "Service",
            "state": "ready",
            "ready": True,
        }
        child.proc.send_signal(signal.SIGTERM)
        status = child.wait(GRACE)
    finally:
        child.kill()
    assert status == -signal.SIGTERM, child.log
    assert "address already in use" not in child.log
    assert child.log.count("stands down, no second server is started") == 1, child.log
    assert child.stopped() == ["http", "api", "cache", "db"], child.log
    assert not listening(port)
