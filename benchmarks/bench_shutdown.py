"""Shutdown latency: SIGTERM to process exit, median over runs.

Each run starts a real child process, waits until it reports that it is
running, sends SIGTERM and times until the process has exited (the
interpreter's own teardown included, as an operator sees it).

Contenders:

- the reference app (``containers/app.py``, container ``Application``) under
  ``python -m haraka_di run`` with no drain delay, when it exists;
- the same small program, N no-op services in chains of ten, three ways:
  ``Orchestrator.serve()``, dependency-injector ``init_resources()`` /
  ``shutdown_resources()`` with a SIGTERM handler, and a bare
  ``AsyncExitStack`` with a SIGTERM handler (the floor).

    python benchmarks/bench_shutdown.py
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import ROOT, Table, header, reproduce

HERE = Path(__file__).resolve().parent
APP = ROOT / "containers" / "app.py"
APP_CONFIG = ROOT / "containers" / "app.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(argv: Sequence[str], is_ready: Callable[[str], bool], stream: str) -> float:
    """Start ``argv``, wait for a line satisfying ``is_ready`` on ``stream``
    (stdout or stderr), SIGTERM it; seconds from the signal to its exit."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    proc = subprocess.Popen(
        list(argv),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        text=True,
    )
    try:
        pipe = proc.stdout if stream == "stdout" else proc.stderr
        assert pipe is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = pipe.readline()
            if not line:
                raise RuntimeError(f"{argv} exited before it was ready:\n{''.join(seen)}")
            seen.append(line)
            if is_ready(line):
                break
        else:
            raise RuntimeError(f"{argv} not ready within 60 s")
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        elapsed = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with status {proc.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--services", type=int, default=100, help="services in the small program")
    parser.add_argument("--no-app", action="store_true", help="skip the reference app")
    args = parser.parse_args(argv)
    header("shutdown latency: SIGTERM -> process exit")
    child = str(HERE / "_shutdown_child.py")

    def small(mode: str) -> tuple[list[str], Callable[[str], bool], str]:
        return [sys.executable, child, mode, str(args.services)], lambda s: s == "ready\n", "stdout"

    contenders: list[tuple[str, tuple[list[str], Callable[[str], bool], str]]] = []
    if APP.exists() and not args.no_app:
        command = [sys.executable, "-m", "haraka_di", "run", "containers.app:Application"]
        if APP_CONFIG.exists():
            command += ["--config", str(APP_CONFIG.relative_to(ROOT))]
        command += ["--set", f"config.server.port={free_port()}"]
        contenders.append(
            ("reference app (haraka run)", (command, lambda s: "SIGTERM stops it" in s, "stderr"))
        )
    n = args.services
    contenders += [
        (f"exit stack, {n} services (floor)", small("exitstack")),
        (f"haraka_di serve(), {n} services", small("haraka")),
        (f"dependency-injector, {n} resources", small("di")),
    ]
    table = Table(
        f"SIGTERM -> exit, ms over {args.runs} runs (runs interleaved)",
        ["contender", "median ms", "min ms", "max ms"],
    )
    samples: dict[str, list[float]] = {label: [] for label, _ in contenders}
    for _ in range(args.runs):
        for label, (command, is_ready, stream) in contenders:
            if label.startswith("reference"):
                command = [*command[:-1], f"config.server.port={free_port()}"]
            samples[label].append(one_run(command, is_ready, stream))
    for label, _ in contenders:
        ms = [s * 1000 for s in samples[label]]
        table.add(label, statistics.median(ms), min(ms), max(ms))
    if not APP.exists():
        table.note("containers/app.py does not exist yet: only the small program was measured")
    table.note("includes the interpreter's own exit; no drain delay")
    table.print()
    print()
    reproduce()


if __name__ == "__main__":
    main()
