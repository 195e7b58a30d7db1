"""Fault 5 in real child processes: signals sent from outside, the child's
exit status, output order, leftover tasks and restored handlers checked."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests import childproc

CHILD = Path(__file__).with_name("signal_child.py")

pytestmark = pytest.mark.timeout(120)


class Child(childproc.Child):
    def __init__(self, mode: str) -> None:
        super().__init__(CHILD, mode)

    def common_checks(self) -> None:
        assert "handlers restored: True" in self.lines, self.stderr
        assert "pending tasks: 0" in self.lines, self.stderr
        assert "state: DESTROYED" in self.lines


def test_sigterm_during_startup_rolls_back_and_exits_143() -> None:
    child = Child("startup")
    child.wait_for("starting api")
    child.send(signal.SIGTERM)
    assert child.finish() == 128 + signal.SIGTERM, child.stderr
    assert (
        "startup error: Startup interrupted by SIGTERM. Stopped the 2 service(s) that had started."
        in child.lines
    )
    assert child.stopped() == ["cache", "db"]
    assert "calls: db=1/1 cache=1/1 api=1/0" in child.lines
    child.common_checks()


def test_sigterm_during_shutdown_forces_and_exits_130() -> None:
    child = Child("force")
    child.wait_for("ready")
    child.send(signal.SIGTERM)
    child.wait_for("stopping cache")  # hangs for up to 120 s
    child.send(signal.SIGINT)
    assert child.finish() == 128 + signal.SIGINT, child.stderr
    assert child.stopped() == ["api", "db"]
    assert "calls: db=1/1 cache=1/1 api=1/1" in child.lines
    assert "received SIGINT while stopping: forcing the shutdown" in child.stderr
    child.common_checks()


def test_third_signal_is_logged_and_changes_nothing() -> None:
    child = Child("third")
    child.wait_for("ready")
    child.send(signal.SIGTERM)
    child.wait_for("stopping cache")
    child.send(signal.SIGTERM)  # force: cache ignores the cancellation
    child.wait_for("ignored-cancel cache")
    child.send(signal.SIGINT)  # third: the child releases cache once it logged it
    assert child.finish() == 128 + signal.SIGTERM, child.stderr
    assert "third signal seen" in child.lines
    assert child.stopped() == ["api", "cache", "db"]
    assert "calls: db=1/1 cache=1/1 api=1/1" in child.lines
    child.common_checks()


def test_sigint_then_sigterm_forces_with_the_second_signals_status() -> None:
    child = Child("mixed")
    child.wait_for("ready")
    child.send(signal.SIGINT)
    child.wait_for("stopping api")  # its stop hangs for up to 120 s
    child.send(signal.SIGTERM)
    assert child.finish() == 128 + signal.SIGTERM, child.stderr
    assert child.stopped() == ["cache", "db"]  # api's stop was cut short
    assert "calls: db=1/1 cache=1/1 api=1/1" in child.lines
    assert "received SIGINT: shutting down gracefully" in child.stderr
    assert "received SIGTERM while stopping: forcing the shutdown" in child.stderr
    child.common_checks()


def test_sigint_and_sigterm_back_to_back_force() -> None:
    # The kernel may deliver the two in either order; whichever comes
    # second forces the shutdown and sets the exit status.
    child = Child("mixed")
    child.wait_for("ready")
    child.send(signal.SIGINT)
    child.send(signal.SIGTERM)
    assert child.finish() in (128 + signal.SIGINT, 128 + signal.SIGTERM), child.stderr
    assert child.stopped() == ["cache", "db"]
    assert "calls: db=1/1 cache=1/1 api=1/1" in child.lines
    assert "forcing the shutdown" in child.stderr
    child.common_checks()
