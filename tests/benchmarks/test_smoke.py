"""Every benchmark script runs, in its tiny configuration, and prints its
tables and the command that reproduces them (so the scripts cannot rot).
The numbers themselves are not checked here: see docs/performance.md."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _run_all() -> Any:
    spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS_DIR / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_ALL: Any = _run_all()


def test_every_script_is_listed() -> None:
    scripts = {p.stem.removeprefix("bench_") for p in BENCHMARKS_DIR.glob("bench_*.py")}
    assert scripts == set(RUN_ALL.BENCHMARKS)


@functools.cache
def _quick_run(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        RUN_ALL.command(name, quick=True),
        cwd=BENCHMARKS_DIR.parent,
        capture_output=True,
        text=True,
        timeout=110,
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(RUN_ALL.BENCHMARKS))
def test_benchmark_runs(name: str) -> None:
    result = _quick_run(name)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("== "), out
    assert "\nmachine: " in out, out
    assert f"reproduce: python benchmarks/bench_{name}.py" in out
    # a table: a header line followed by a dashed rule and at least one row
    lines = out.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("---")]
    assert rules, out
    assert lines[rules[0] + 1].strip(), out


RESOURCES_SKIPPED = "haraka_di does not orchestrate Resources in this version: skipped"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["resources", "resource_dag"])
def test_resource_benchmarks_say_whether_haraka_ran(name: str) -> None:
    """Either haraka_di orchestrated the Resources and its rows have numbers,
    or it did not and the script says so, never numbers from 0 nodes; the
    dependency-injector and hand-written rows always have numbers."""
    result = _quick_run(name)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    skipped = RESOURCES_SKIPPED in lines
    ours = [line for line in lines if line.startswith("haraka_di")]
    assert ours, result.stdout
    assert all(("skipped" in line) is skipped for line in ours), result.stdout
    theirs = [line for line in lines if line.startswith(("dependency-injector", "asyncio by hand"))]
    assert theirs, result.stdout
    assert not any("skipped (see below)" in line for line in theirs), result.stdout


@pytest.mark.timeout(120)
def test_the_resource_start_breakdown_runs_and_adds_up() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS_DIR / "resource_start_parts.py"),
            *("--resources", "20", "--repeat", "1"),
        ],
        cwd=BENCHMARKS_DIR.parent,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cells = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()]
    rows = {row[0]: row[1:] for row in cells if len(row) > 1}
    assert float(rows["init_resources(), whole"][1]) == 1.0, result.stdout
    for part in ("discovery", "registry: plan, records, units", "the start run"):
        assert float(rows[part][0]) > 0, result.stdout
    assert "reproduce: python benchmarks/resource_start_parts.py --resources 20" in result.stdout


def test_run_all_rejects_unknown_names() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS_DIR / "run_all.py"), "--quick", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown benchmark(s) ['nope']" in result.stderr


def _compare_revisions() -> Any:
    sys.path.insert(0, str(BENCHMARKS_DIR))
    try:
        spec = importlib.util.spec_from_file_location(
            "compare_revisions", BENCHMARKS_DIR / "compare_revisions.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS_DIR))


def test_compare_revisions_reads_every_number_of_a_table() -> None:
    compare = _compare_revisions()
    table = compare.Table("N = 10 things (us)", ["contender", "start", "stop total ms", "vs"])
    table.add("haraka_di, chained", 1234.4, "skipped (N > 1)", "12.3x")  # shown as 1,234
    table.add("exit stack", 0.5, 3.0, "-")
    table.note("a note, not a row")
    text = "noise before\n\n" + table.render() + "\n\nafter"
    assert compare.parse_tables(text) == {
        ("N = 10 things (us)", "haraka_di, chained", "start"): 1234.0,
        ("N = 10 things (us)", "haraka_di, chained", "vs"): 12.3,
        ("N = 10 things (us)", "exit stack", "start"): 0.5,
        ("N = 10 things (us)", "exit stack", "stop total ms"): 3.0,
    }


@pytest.mark.timeout(120)
def test_compare_revisions_compares_a_checkout_with_itself(tmp_path: Path) -> None:
    root = str(BENCHMARKS_DIR.parent)
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS_DIR / "compare_revisions.py"),
            *("--before", root, "--after", root, "--rounds", "2", "--quick"),
            *("--before-python", sys.executable, "--after-python", sys.executable),
            *("--out", str(tmp_path), "import"),
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "import.after.1.txt",
        "import.after.2.txt",
        "import.before.1.txt",
        "import.before.2.txt",
    ]
    lines = result.stdout.splitlines()
    title = lines.index("bench_import: 2 before / 2 after runs, interleaved")
    assert lines[title + 1].split()[-1] == "after/before", result.stdout
    rows = [line for line in lines[title + 3 :] if line.startswith("import time | ")]
    assert any(" | import haraka_di | total ms " in row for row in rows), result.stdout
