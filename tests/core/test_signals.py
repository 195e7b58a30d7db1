"""Real signals sent to a real child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("signal_child.py")
ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.timeout(120)


class Child:
    def __init__(self, mode: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []

    def wait_for(self, line: str) -> None:
        assert self.proc.stdout is not None
        for got in self.proc.stdout:
            self.lines.append(got.rstrip("\n"))
            if got.rstrip("\n") == line:
                return
        raise AssertionError(f"child ended before {line!r}; saw {self.lines}")

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self) -> int:
        out, err = self.proc.communicate(timeout=90)
        self.lines += out.splitlines()
        self.stderr = err
        return self.proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_in_reverse_order_and_exits_0(sig: signal.Signals) -> None:
    child = Child("normal")
    child.wait_for("started api")
    child.send(sig)
    assert child.finish() == 0, child.stderr
    stops = [line for line in child.lines if line.startswith("stopped ")]
    assert stops == ["stopped api", "stopped cache", "stopped db"]
    assert "handlers restored: True" in child.lines


def test_second_signal_forces_the_stop_and_exits_128_plus_signum() -> None:
    child = Child("force")
    child.wait_for("started api")
    child.send(signal.SIGTERM)
    child.wait_for("stopping cache")  # cache's stop hangs for 60 s
    child.send(signal.SIGINT)
    assert child.finish() == 128 + signal.SIGINT, child.stderr
    assert "stopped db" in child.lines  # its dependency is still stopped
    assert "stopped cache" not in child.lines
    assert "forcing the shutdown" in child.stderr or "force" in child.stderr.lower()


def test_signal_during_startup_rolls_back_what_started() -> None:
    child = Child("startup")
    child.wait_for("starting api")  # api's startup never returns
    child.send(signal.SIGTERM)
    status = child.finish()
    assert status == 128 + signal.SIGTERM, child.stderr
    error = next(line for line in child.lines if line.startswith("startup error:"))
    assert "interrupted by SIGTERM" in error
    stops = [line for line in child.lines if line.startswith("stopped ")]
    assert stops == ["stopped cache", "stopped db"]
    assert "handlers restored: True" in child.lines
