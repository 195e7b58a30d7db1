"""Reliability, round 2, in real child processes (``haraka run`` and a
``serve()`` program): real signals sent from outside, the child's exit status
and how long it took. Each test failed on the landed code (docs/failures.md).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import childproc
from tests.cli.support import Child

from .round2_child import GRACE

CHILD = Path(__file__).with_name("round2_child.py")
TARGETS = "tests.reliability.cli_targets"
MARGIN = 2.0  # interpreter start-up is not in it; teardown and a loaded CI machine are

pytestmark = pytest.mark.timeout(120)


def exit_status(child: Child, timeout: float) -> int:
    """The child's exit status; fails (and kills it) if it is still running
    after ``timeout`` seconds."""
    try:
        return child.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        child.proc.kill()
        child.proc.wait()
        raise AssertionError(f"still running after {timeout}s:\n{child.stderr}") from None
    finally:
        child._reader.join(10)


# -- item 2: a second signal cuts a hanging shutdown task short -----------------


@pytest.mark.parametrize("sets", [(), ("--set", "orchestrator.stop_timeout=null")])
def test_haraka_run_a_second_sigterm_cuts_a_hanging_shutdown_task_short(
    sets: tuple[str, ...],
) -> None:
    args = ("run", f"{TARGETS}:Flush", "--set", f"orchestrator.cancel_grace={GRACE}", *sets)
    with Child(*args) as child:
        child.wait_for("all 2 service(s) ready")
        child.send(signal.SIGTERM)
        child.wait_for("flushing forever")  # the services stopped; the task hangs
        forced = time.monotonic()
        child.send(signal.SIGTERM)
        status = exit_status(child, GRACE + MARGIN)
        took = time.monotonic() - forced
    assert status == 128 + signal.SIGTERM, child.stderr
    assert took < GRACE + MARGIN
    assert "shutdown task Flusher.flush_forever was cut short by a forced shutdown" in child.stderr
    assert "exiting with status 143" in child.stderr
    assert "Traceback" not in child.stderr


@pytest.mark.parametrize("mode", ["flush", "flush-no-timeout"])
def test_serve_a_second_sigterm_cuts_a_hanging_shutdown_task_short(mode: str) -> None:
    child = childproc.Child(CHILD, mode)
    try:
        child.wait_for("ready")
        child.send(signal.SIGTERM)
        child.wait_for("flushing forever")
        forced = time.monotonic()
        child.send(signal.SIGTERM)
        status = child.proc.wait(GRACE + MARGIN)
        took = time.monotonic() - forced
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
    assert status == 128 + signal.SIGTERM, child.finish()
    assert took < GRACE + MARGIN
    child.finish()
    assert child.lines[-1] == "exit 143", child.stderr


# -- item 3: a signal after the stop finished does not kill the process ---------


@pytest.mark.parametrize("trial", range(5))
@pytest.mark.parametrize("late", [signal.SIGTERM, signal.SIGINT])
def test_haraka_run_a_signal_after_the_stop_exits_with_the_status_it_logged(
    late: signal.Signals, trial: int
) -> None:
    with Child("run", f"{TARGETS}:Quick") as child:
        child.wait_for("all 1 service(s) ready")
        child.send(signal.SIGTERM)
        child.wait_for("exiting with status 0")
        child.send(late)  # lands somewhere in the loop's close or the interpreter's teardown
        status = exit_status(child, 30)
    assert status == 0, child.stderr
    assert "Traceback" not in child.stderr and "KeyboardInterrupt" not in child.stderr


@pytest.mark.parametrize("trial", range(3))
def test_the_reference_app_exits_0_after_a_late_sigterm(trial: int) -> None:
    # The case: FastAPI, SQLAlchemy and uvicorn make a long teardown.
    args = ("run", "containers.app:Application", "--config", "containers/app.yaml")
    sets = ("--set", "config.server.port=0", "--set", "config.cache.warmup_seconds=0")
    with Child(*args, *sets) as child:
        child.wait_for("all 4 node(s) ready")
        child.send(signal.SIGTERM)
        child.wait_for("exiting with status 0")
        child.send(signal.SIGTERM)
        status = exit_status(child, 30)
    assert status == 0, child.stderr


# -- item 4: a task that swallows every cancellation cannot hold the exit --------


def test_haraka_run_exits_1_although_an_abandoned_start_never_ends() -> None:
    sets = (
        "--set",
        "orchestrator.start_timeout=0.2",
        "--set",
        f"orchestrator.cancel_grace={GRACE}",
    )
    began = time.monotonic()
    with Child("run", f"{TARGETS}:Stubborn", *sets) as child:
        status = exit_status(child, 30)
    took = time.monotonic() - began
    assert status == 1, child.stderr
    assert "swallowed a cancellation" in child.stderr  # it really is deaf
    assert "1 task(s) ignored their cancellation for 1.0s and are left behind: 'haraka:deaf'" in (
        child.stderr
    )
    last = child.stderr.splitlines()[-1]
    assert last.startswith("haraka run: error: Startup failed: 'deaf': TimeoutError"), last
    assert "Task was destroyed but it is pending" not in child.stderr
    assert took < 20


def test_haraka_run_exits_with_the_logged_status_although_an_abandoned_stop_never_ends() -> None:
    sets = ("--set", "config.where=stop", "--set", "orchestrator.stop_timeout=0.2")
    sets += ("--set", f"orchestrator.cancel_grace={GRACE}")
    with Child("run", f"{TARGETS}:Stubborn", *sets) as child:
        child.wait_for("all 2 service(s) ready")
        child.send(signal.SIGTERM)
        child.wait_for("exiting with status 1")  # the stop of deaf failed
        logged = time.monotonic()
        status = exit_status(child, GRACE + MARGIN)
        took = time.monotonic() - logged
    assert status == 1, child.stderr
    assert took < GRACE + MARGIN
    assert "stop of service 'deaf' was cut short by its 0.2s timeout" in child.stderr
    assert "are left behind: 'haraka:deaf'" in child.stderr
