"""Signal storms: SIGTERM/SIGINT at random moments against ``haraka run`` of
the reference application, in real child processes.

    python benchmarks/signal_storm.py                   # 90 trials, seed 14
    python benchmarks/signal_storm.py --trials 10 --seed 1
    python benchmarks/signal_storm.py --code /tmp/older # another checkout, to compare

Each trial runs ``haraka run containers.app:Application`` (port 0, so
nothing but 127.0.0.1 is bound and no request is made), waits until it says
``starting 4 node(s) ... in 3 wave(s)``, then sends a first signal after a random delay
(0-``--spread`` s: during the startup, while running), and 0-3 more, each
after another random delay (0-0.4 s: while stopping, after the stop,
during the interpreter's teardown); each signal is SIGTERM or SIGINT at
random. It checks that the process

- exits (within 30 s of the last signal; else it is killed and counted
  as hung),
- with the status it logged (``exiting with status N``; after a one-line
  startup error, 128 + the signal that interrupted or forced it), and
- prints no traceback. One kind is counted apart, not as a failure: a
  ``CancelledError`` traceback a library logs after the second signal,
  when it cut a stop short in the middle of its close (the reference app's
  SQLAlchemy pool, if the force lands during ``engine.dispose()``): a stop
  in flight at the force is cancelled at once, as documented.

Signals sent after that status was logged are the "late" ones: they must
change nothing. Exits 1 if any trial failed a check. Bounded: at most
``--trials`` (<= 500) children, one at a time.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, Table, header, reproduce

STATUS = re.compile(r"exiting with status (\d+)")
RECEIVED = re.compile(r"received (SIGINT|SIGTERM)(:| during startup| while stopping| after)")


@dataclass
class Result:
    first_phase: str = "?"
    exit_status: int | None = None
    logged: int | None = None
    late: int = 0  # signals sent after the status was logged
    signals: int = 0
    traceback: bool = False
    cut_mid_close: int = 0  # CancelledError tracebacks logged after a force
    hung: bool = False
    exit_after_last: float = 0.0
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        if self.hung or self.traceback:
            return False
        if self.first_phase == "before haraka":
            return True  # the default disposition, as before any run
        return self.exit_status == self.logged


class Child:
    def __init__(self, code: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "haraka_di",
                "run",
                "containers.app:Application",
                *("--set", "config.server.port=0"),
                *("--set", "config.server.access_log=false"),
                *("--set", "config.cache.warmup_seconds=0"),
            ],
            cwd=code,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._seen:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self._seen.wait(min(left, 0.1))
        return True

    def status_logged(self) -> bool:
        with self._seen:
            return any(
                STATUS.search(ln) or ln.startswith("haraka run: error:") for ln in self.lines
            )


def trial(rng: random.Random, code: Path, spread: float) -> Result:
    result = Result()
    child = Child(code)
    try:
        if not child.wait_for("wave(s):", 60):
            raise RuntimeError("haraka run did not start:\n" + "\n".join(child.lines))
        delays = [rng.uniform(0, spread)] + [rng.uniform(0, 0.4) for _ in range(rng.randint(0, 3))]
        last = time.monotonic()
        for delay in delays:
            time.sleep(delay)
            if child.proc.poll() is not None:
                break
            result.late += child.status_logged()
            child.proc.send_signal(rng.choice([signal.SIGTERM, signal.SIGINT]))
            result.signals += 1
            last = time.monotonic()
        try:
            result.exit_status = child.proc.wait(30)
        except subprocess.TimeoutExpired:
            result.hung = True
            child.proc.kill()
            child.proc.wait()
        result.exit_after_last = time.monotonic() - last
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()
        child._reader.join(10)
    result.log = child.lines
    classify(result)
    return result


def tracebacks(lines: list[str]) -> tuple[bool, int]:
    """(any other traceback?, how many CancelledError ones after a force)"""
    forced = next((i for i, ln in enumerate(lines) if "forcing the shutdown" in ln), None)
    other, cut = False, 0
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last):"):
            continue
        end = next((ln for ln in lines[i + 1 :] if ln and not ln[0].isspace()), "")
        if forced is not None and forced < i and end == "asyncio.exceptions.CancelledError":
            cut += 1
        else:
            other = True
    return other, cut


def classify(result: Result) -> None:
    text = "\n".join(result.log)
    result.traceback, result.cut_mid_close = tracebacks(result.log)
    received = RECEIVED.findall(text)
    if not received:
        result.first_phase = "before haraka"
    elif received[0][1] == " during startup":
        result.first_phase = "startup"
    else:
        result.first_phase = "running"
    found = STATUS.search(text)
    if found:
        result.logged = int(found.group(1))
    elif "haraka run: error:" in text:  # a startup interrupted (or forced) by a signal
        forced = [sig for sig, how in received if how == " while stopping"]
        interrupted = [sig for sig, how in received if how == " during startup"]
        which = (forced or interrupted or [None])[0]
        result.logged = 128 + int(getattr(signal, which)) if which else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=90)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--spread", type=float, default=0.3, help="max delay of the first signal")
    parser.add_argument("--code", metavar="DIR", help="run haraka from this checkout instead")
    parser.add_argument("--show-failures", action="store_true", help="print their logs")
    args = parser.parse_args(argv)
    if not 1 <= args.trials <= 500:
        parser.error("bounded: --trials 1..500")
    code = Path(args.code).resolve() if args.code else ROOT
    header(f"signal storm: {args.trials} trials of haraka run, seed {args.seed}")
    if args.code:
        print(f"code: {code}")
    rng = random.Random(args.seed)
    results = [trial(rng, code, args.spread) for _ in range(args.trials)]
    table = Table(
        "by where the first signal landed",
        [
            "first signal",
            "trials",
            "exit statuses",
            "status != logged",
            "with a late signal",
            "late signal changed it",
            "tracebacks",
            "cut mid-close",
            "hung",
            "max exit s",
        ],
    )
    for phase in ("before haraka", "startup", "running"):
        group = [r for r in results if r.first_phase == phase]
        if not group:
            continue
        statuses = Counter(r.exit_status for r in group)
        table.add(
            phase,
            len(group),
            ", ".join(f"{s} ({n})" for s, n in sorted(statuses.items(), key=str)),
            sum(not r.ok and not r.hung and not r.traceback for r in group),
            sum(r.late > 0 for r in group),
            sum(r.late > 0 and not r.ok for r in group),
            sum(r.traceback for r in group),
            sum(r.cut_mid_close > 0 for r in group),
            sum(r.hung for r in group),
            max(r.exit_after_last for r in group),
        )
    table.note("'before haraka': the first signal came before haraka owned the signals")
    table.note("(the default disposition: the process ends by it; not a failure)")
    table.print()
    failures = [r for r in results if not r.ok]
    signals = sum(r.signals for r in results)
    late = sum(r.late for r in results)
    print(
        f"{len(results)} trials, {signals} signals ({late} after the status was logged): "
        f"{len(failures)} trial(s) failed a check"
    )
    if args.show_failures:
        for r in failures:
            print(f"--- exit {r.exit_status}, logged {r.logged}, late {r.late}")
            print("\n".join(r.log))
    reproduce()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
