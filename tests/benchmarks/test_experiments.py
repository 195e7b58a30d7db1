"""The reliability experiments of issue 14 (benchmarks/signal_storm.py and
benchmarks/drain_under_load.py) run, in a tiny configuration, and their own
checks pass: no trial of the storm fails, no request started before
readiness dropped fails under ``haraka run``. The full figures are in
docs/failures.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )


@pytest.mark.timeout(180)
def test_a_small_signal_storm_finds_no_failure() -> None:
    result = run("signal_storm.py", "--trials", "4", "--seed", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 trials" in result.stdout
    assert "0 trial(s) failed a check" in result.stdout
    assert "reproduce: python benchmarks/signal_storm.py --trials 4 --seed 3" in result.stdout


@pytest.mark.timeout(180)
def test_a_small_drain_under_load_has_no_error_before_readiness_dropped() -> None:
    result = run("drain_under_load.py", "--trials", "1", "--clients", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    haraka = rows["haraka run"].split()
    assert haraka[2] == "5/5"  # every request in flight at SIGTERM answered 200
    assert haraka[-2].startswith("0/")  # no error before readiness dropped
    assert "plain uvicorn" in rows
