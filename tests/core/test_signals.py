"""Real signals sent to a real child process."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests import childproc

CHILD = Path(__file__).with_name("signal_child.py")

pytestmark = pytest.mark.timeout(120)


def start_child(mode: str) -> childproc.Child:
    return childproc.Child(CHILD, mode)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_in_reverse_order_and_exits_0(sig: signal.Signals) -> None:
    child = start_child("normal")
    child.wait_for("running")  # ("started api" is printed while still STARTING)
    child.send(sig)
    assert child.finish() == 0, child.stderr
    stops = [line for line in child.lines if line.startswith("stopped ")]
    assert stops == ["stopped api", "stopped cache", "stopped db"]
    assert "handlers restored: True" in child.lines


def test_second_signal_forces_the_stop_and_exits_128_plus_signum() -> None:
    child = start_child("force")
    child.wait_for("running")
    child.send(signal.SIGTERM)
    child.wait_for("stopping cache")  # cache's stop hangs for 60 s
    child.send(signal.SIGINT)
    assert child.finish() == 128 + signal.SIGINT, child.stderr
    assert "stopped db" in child.lines  # its dependency is still stopped
    assert "stopped cache" not in child.lines
    assert "forcing the shutdown" in child.stderr or "force" in child.stderr.lower()


def test_signal_during_startup_rolls_back_what_started() -> None:
    child = start_child("startup")
    child.wait_for("starting api")  # api's startup never returns
    child.send(signal.SIGTERM)
    status = child.finish()
    assert status == 128 + signal.SIGTERM, child.stderr
    error = next(line for line in child.lines if line.startswith("startup error:"))
    assert "interrupted by SIGTERM" in error
    stops = [line for line in child.lines if line.startswith("stopped ")]
    assert stops == ["stopped cache", "stopped db"]
    assert "handlers restored: True" in child.lines
