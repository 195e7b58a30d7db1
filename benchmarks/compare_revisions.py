"""Compare two checkouts of haraka_di on the same benchmarks, runs interleaved.

    python benchmarks/compare_revisions.py --before /work/wt/before --after . \\
        --rounds 5 --out /tmp/bench/compare

Each checkout runs its own ``benchmarks/bench_<name>.py`` with its own
interpreter (``<checkout>/.venv/bin/python`` unless ``--before-python`` /
``--after-python`` say otherwise), from its own directory, so each measures
its own code (and, for the shutdown benchmark, its own reference app). The
runs alternate, script by script: round 1 runs before then after, round 2
after then before, and so on, so both sides share the machine's fast and slow
moments. Every run's output is kept in ``--out`` (a new temporary
directory unless given).

Then every number in every table the scripts printed is gathered by table,
row and column, and a comparison is printed: for each, the median and the
range over the rounds for both sides and the ratio of the medians
(after / before). ``*`` marks a cell whose ranges do not overlap (after
entirely above or below before): a difference larger than the noise seen
here. Whether higher is worse depends on the column (for times it is).

A script whose text differs between the checkouts is still run, and the
comparison says so: its numbers then compare the benchmarks as well as the
code. ``--parse --out DIR`` prints the comparison of the runs kept in DIR
again without running anything. docs/performance.md (section 8) shows a
comparison of the code before and after the core redesign.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _common import Table, fmt, header, reproduce

HERE = Path(__file__).resolve().parent
SIDES = ("before", "after")

#: (table title, row label, column) -> value
Numbers = dict[tuple[str, str, str], float]

COLUMNS = ["table | row | column", "before", "range", "after", "range", "after/before"]

_NUMBER = re.compile(r"^[+-]?(?:\d[\d,]*)?\.?\d+(?=x?(?:\s|$))")


def parse_tables(text: str) -> Numbers:
    """Every numeric cell of every table in a benchmark's output.

    A table (see ``_common.Table``) is a title line, a header line, a rule of
    dashes whose runs give the column spans, then rows up to a blank line or
    a ``  * `` note. A cell counts as numeric when it starts with a number
    (``1,234``, ``0.5``, ``12.3x``, ``+10.8``, ``0.3 (0)``).
    """
    lines = text.splitlines()
    found: Numbers = {}
    for i, rule in enumerate(lines):
        if i < 2 or not rule.startswith("-") or set(rule) - {"-", " "}:
            continue
        spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
        title, head = lines[i - 2].strip(), lines[i - 1]
        columns = [_cell(head, j, spans) for j in range(len(spans))]
        for row in lines[i + 1 :]:
            if not row.strip() or row.startswith("  * "):
                break
            cells = [_cell(row, j, spans) for j in range(len(spans))]
            for column, cell in zip(columns[1:], cells[1:], strict=True):
                if match := _NUMBER.match(cell):
                    found[(title, cells[0], column)] = float(match.group().replace(",", ""))
    return found


def _cell(line: str, index: int, spans: list[tuple[int, int]]) -> str:
    """The text of column ``index``: its rule's span, widened left to the
    previous column's end (a right-aligned cell never reaches past its rule,
    a left-aligned first cell never past its own)."""
    return line[spans[index - 1][1] if index else 0 : spans[index][1]].strip()


def run(name: str, side: str, checkout: Path, python: Path, extra: list[str], out: Path) -> Path:
    script = checkout / "benchmarks" / f"bench_{name}.py"
    done = subprocess.run(
        [str(python), str(script), *extra],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    rounds = len(list(out.glob(f"{name}.{side}.*.txt")))
    path = out / f"{name}.{side}.{rounds + 1}.txt"
    path.write_text(done.stdout + (f"\n[stderr]\n{done.stderr}" if done.stderr else ""))
    if done.returncode != 0:
        raise SystemExit(f"{side}: {script} exited with {done.returncode}; see {path}")
    return path


def compare(out: Path, names: list[str]) -> None:
    for name in names:
        values: dict[str, dict[tuple[str, str, str], list[float]]] = {}
        runs: dict[str, int] = {}
        for side in SIDES:
            paths = sorted(out.glob(f"{name}.{side}.*.txt"))
            runs[side] = len(paths)
            cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
            for path in paths:
                for key, value in parse_tables(path.read_text()).items():
                    cells[key].append(value)
            values[side] = cells
        if not all(runs.values()):
            print(f"\nbench_{name}: no runs on one side ({runs}): nothing to compare")
            continue
        keys = [k for k in values["after"] if k in values["before"]]
        table = Table(
            f"bench_{name}: {runs['before']} before / {runs['after']} after runs, interleaved",
            COLUMNS,
        )
        for key in keys:
            b, a = values["before"][key], values["after"][key]
            if len({*b, *a}) == 1:
                continue  # a count both sides share (runs, sizes)
            mb, ma = statistics.median(b), statistics.median(a)
            apart = min(a) > max(b) or max(a) < min(b)
            change = f"{ma / mb:.3f}" if mb else "-"
            table.add(
                " | ".join([key[0].split(" (")[0], *key[1:]]),
                mb,
                f"{fmt(min(b))}-{fmt(max(b))}",
                ma,
                f"{fmt(min(a))}-{fmt(max(a))}",
                change + (" *" if apart else ""),
            )
        only = sorted({k[0] for k in values["after"]} ^ {k[0] for k in values["before"]})
        if only:
            table.note(f"tables in one side only (not compared): {only}")
        if (out / f"{name}.differs").exists():
            table.note("the script's text differs between the checkouts")
        table.note("* = the ranges do not overlap (a difference beyond the noise of these runs)")
        table.print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks (default: all)")
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path, default=HERE.parent)
    parser.add_argument("--before-python", type=Path)
    parser.add_argument("--after-python", type=Path)
    parser.add_argument("--rounds", type=int, default=3, help="runs per side and script")
    parser.add_argument("--quick", action="store_true", help="run_all.py's tiny sizes")
    parser.add_argument("--out", type=Path, help="where the runs' outputs go (default: a temp dir)")
    parser.add_argument("--parse", action="store_true", help="only compare the runs in --out")
    args = parser.parse_args(argv)
    header("compare revisions: the same benchmarks on two checkouts, interleaved")
    sys.path.insert(0, str(HERE))
    from run_all import BENCHMARKS

    names = args.names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    if args.parse and args.out is None:
        parser.error("--parse needs --out DIR")
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="haraka-compare-"))
    print(f"outputs: {args.out}")
    if not args.parse:
        if args.before is None:
            parser.error("--before is required (unless --parse)")
        checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
        pythons = {
            side: (getattr(args, f"{side}_python") or checkouts[side] / ".venv" / "bin" / "python")
            for side in SIDES
        }
        for side in SIDES:
            print(f"{side}: {checkouts[side]} with {pythons[side]}")
        args.out.mkdir(parents=True, exist_ok=True)
        names = [n for n in names if (checkouts["before"] / f"benchmarks/bench_{n}.py").exists()]
        for name in names:
            a, b = (checkouts[s] / "benchmarks" / f"bench_{name}.py" for s in SIDES)
            if not filecmp.cmp(a, b, shallow=False):
                (args.out / f"{name}.differs").touch()
        for r in range(args.rounds):
            for name in names:
                extra = list(BENCHMARKS[name]) if args.quick else []
                order = SIDES if r % 2 == 0 else SIDES[::-1]
                for side in order:
                    print(f"round {r + 1}/{args.rounds}: {name}, {side}", flush=True)
                    run(name, side, checkouts[side], pythons[side], extra, args.out)
    compare(args.out, names)
    print()
    reproduce()


if __name__ == "__main__":
    main()
