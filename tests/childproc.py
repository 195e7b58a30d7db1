"""A real child Python process that the tests signal and read line by line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


class Child:
    """Runs ``python SCRIPT MODE`` with the repo importable; the script prints
    one flushed line per event so the test synchronises on output."""

    def __init__(self, script: Path, mode: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(script), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.stderr = ""

    def wait_for(self, line: str) -> None:
        assert self.proc.stdout is not None
        for got in self.proc.stdout:
            self.lines.append(got.rstrip("\n"))
            if self.lines[-1] == line:
                return
        self.finish()
        raise AssertionError(f"child ended before {line!r}; saw {self.lines}\n{self.stderr}")

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self) -> int:
        out, self.stderr = self.proc.communicate(timeout=90)
        self.lines += out.splitlines()
        return self.proc.returncode

    def stopped(self) -> list[str]:
        return [ln.split()[1] for ln in self.lines if ln.startswith("stopped ")]
