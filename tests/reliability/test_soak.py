"""The soak script (benchmarks/soak.py), in a small configuration: after
every start/stop cycle no task, fd or signal handler is left over, and
traced memory stays flat. The full run is ``python benchmarks/soak.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).parents[2] / "benchmarks" / "soak.py"


@pytest.mark.timeout(180)
def test_soak_leaves_nothing_behind() -> None:
    args = ["--cycles", "120", "--every", "20", "--warmup", "20", "--max-growth-kb", "32"]
    result = subprocess.run(
        [sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=170
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tasks, fds and signal handlers: unchanged after every cycle" in result.stdout
    assert result.stdout.rstrip().endswith("OK")
