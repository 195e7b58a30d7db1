"""Run every benchmark, one after the other, each in its own interpreter.

    python benchmarks/run_all.py            # the full runs (a few minutes)
    python benchmarks/run_all.py --quick    # tiny sizes: checks they all work
    python benchmarks/run_all.py overhead planning   # only some

The results of a full run on the reference machine are in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: script name -> arguments of the tiny configuration (used by the smoke test)
BENCHMARKS: dict[str, list[str]] = {
    "overhead": ["--sizes", "50", "--repeat", "1", "--di-max", "40", "--di-chain-max", "20"],
    "critical_path": ["--services", "20", "--repeat", "1"],
    "planning": ["--sizes", "100", "300", "--repeat", "1"],
    "import": ["--runs", "1"],
    "shutdown": ["--runs", "1", "--services", "10"],
    "resources": ["--sizes", "10", "30", "--repeat", "1", "--di-chain-max", "10"],
    "resource_dag": ["--nodes", "20", "--repeat", "1"],
}


def command(name: str, quick: bool) -> list[str]:
    script = HERE / f"bench_{name}.py"
    return [sys.executable, str(script), *(BENCHMARKS[name] if quick else [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the haraka_di benchmarks.")
    parser.add_argument("only", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check they run")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    failed = []
    for name in args.only or BENCHMARKS:
        print(f"\n$ {' '.join(command(name, args.quick))}", flush=True)
        if subprocess.run(command(name, args.quick), cwd=HERE.parent).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
