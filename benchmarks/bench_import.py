"""Import time: ``import haraka_di`` against dependency-injector alone.

Each import runs in a fresh interpreter under ``python -X importtime``; the
total is the sum of every module's own ("self") import time, so the numbers
do not depend on which module happened to import which. Medians over
``--runs`` interpreters per row, rows interleaved to share the machine's
noise fairly.

Rows: ``dependency_injector`` (the package's ``__init__`` only: nothing
usable), ``dependency_injector.providers`` (the part every container
declaration needs, so the real baseline of an application that uses
dependency-injector), ``haraka_di``. "added" is haraka_di's total minus the
baseline's; the modules haraka_di brings in beyond dependency-injector's are
listed. Also checks that ``import haraka_di`` never imports FastAPI.

    python benchmarks/bench_import.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from _common import ROOT, Table, header, reproduce

Profile = dict[str, int]  # module -> self microseconds


def importtime(statement: str) -> Profile:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure warm imports, as deployed
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    profile: Profile = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = line[len("import time:") :].split("|")
        profile[name.strip()] = int(own)
    return profile


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    header("import time: python -X importtime -c 'import ...' (fresh interpreter per run)")
    targets = ["dependency_injector", "dependency_injector.providers", "haraka_di"]
    samples: dict[str, list[Profile]] = {t: [] for t in targets}
    for target in targets:  # warm-up: byte-compile and fill the OS file cache
        importtime(f"import {target}")
    for _ in range(args.runs):
        for target in targets:
            samples[target].append(importtime(f"import {target}"))
    base = importtime("pass")  # the interpreter's own start-up imports
    totals = {
        t: statistics.median(sum(v for k, v in p.items() if k not in base) for p in samples[t])
        for t in targets
    }
    baseline = totals["dependency_injector.providers"]
    table = Table(
        f"import time (median of {args.runs} runs, ms; start-up modules excluded)",
        ["import", "modules", "total ms", "vs dependency_injector", "vs ...providers"],
    )
    for target in targets:
        modules = len(set(samples[target][0]) - set(base))
        bare = (totals[target] - totals["dependency_injector"]) / 1000
        added = (totals[target] - baseline) / 1000
        table.add(
            f"import {target}", modules, totals[target] / 1000, f"{bare:+.1f}", f"{added:+.1f}"
        )
    ours = set(samples["haraka_di"][0]) - set(samples["dependency_injector.providers"][0])
    ours -= set(base)
    extra = {m: statistics.median(p.get(m, 0) for p in samples["haraka_di"]) / 1000 for m in ours}
    top = sorted(extra.items(), key=lambda kv: -kv[1])[:8]
    table.note(
        f"haraka_di adds {len(ours)} modules, {sum(extra.values()):.1f} ms of their own import "
        "time; largest: " + ", ".join(f"{m} {ms:.1f}" for m, ms in top)
    )
    leaked = sorted(
        m for p in samples["haraka_di"] for m in p if m.split(".")[0] in ("fastapi", "starlette")
    )
    table.note(f"FastAPI imported by 'import haraka_di': {'YES ' + leaked[0] if leaked else 'no'}")
    table.note(
        "'import dependency_injector' alone loads only the package's __init__; haraka_di "
        "needs dependency_injector.providers, as does any container, so that is the baseline"
    )
    table.note("target: haraka_di adds < 30 ms and never imports FastAPI")
    table.print()
    print()
    reproduce()
    if leaked:
        raise SystemExit("import haraka_di imported FastAPI")


if __name__ == "__main__":
    main()
