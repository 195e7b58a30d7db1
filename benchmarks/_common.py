"""Shared helpers for the benchmark scripts: tables, timing, the machine.

Not part of haraka_di. Each script in this folder is runnable on its own
(``python benchmarks/<script>.py``) and prints, besides its tables, the
exact command that reproduces them.
"""

from __future__ import annotations

import gc
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    """One line describing where the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        di = version("dependency-injector")
    except Exception:
        di = "?"
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs; "
        f"dependency-injector {di}"
    )


def header(title: str) -> None:
    print(f"== {title} ==")
    print(f"machine: {machine()}")


def reproduce(argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run, relative to the repository root."""
    args = list(sys.argv if argv is None else argv)
    script = Path(args[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = str(script)
    line = " ".join(["python", shown, *(shlex.quote(a) for a in args[1:])])
    print(f"reproduce: {line}")
    return line


class Table:
    """A plain text table: first column left-aligned, the rest right-aligned."""

    def __init__(self, title: str, columns: Sequence[str]) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows: list[list[str]] = []
        self.notes: list[str] = []

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} cells, got {len(cells)}")
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        out = [self.title, line(self.columns), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out)

    def print(self) -> None:
        print()
        print(self.render())


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``12.3x``."""
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:,.0f}x"


def best(samples: Sequence[float]) -> float:
    return min(samples)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def repeat(times: int, fn: Callable[[], Any]) -> list[Any]:
    """Call ``fn`` ``times`` times after a full garbage collection each."""
    results = []
    for _ in range(times):
        gc.collect()
        results.append(fn())
    return results


def clock() -> float:
    """Wall-clock seconds (for anything that waits: sleeps, processes)."""
    return time.perf_counter()


def cpu_clock() -> float:
    """CPU seconds of this process. For CPU-bound work that never waits
    (no-op services, planning) this equals the wall time on an idle machine,
    and it is not inflated when other processes share the CPUs."""
    return time.process_time()
