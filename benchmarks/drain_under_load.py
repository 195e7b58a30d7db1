"""Drain under load: SIGTERM in the middle of a steady load, ``haraka run``
against plain uvicorn, on the reference application.

    python benchmarks/drain_under_load.py                 # 5 trials x 50 clients, 2 s drain
    python benchmarks/drain_under_load.py --trials 1 --clients 5 --modes haraka

Each trial starts the server in a child process on a free port of
127.0.0.1 (nothing else is contacted), waits until ``/health/ready`` says
200, then runs ``--clients`` closed-loop clients (each: connect, ``GET
/slow?seconds=0.1``, read the answer, again; a refused connection is
retried after 10 ms) and a readiness prober (a fresh connection every 5 ms).
After ``--warmup`` seconds of load it sends SIGTERM, keeps the load on
until the server has exited (at most ``--drain`` + 8 s), and reports:

- in flight at SIGTERM: requests sent before the signal and not yet
  answered, and how many of them got their 200;
- readiness 503 after SIGTERM: when the prober first saw 503 (``never``:
  it never did before the server went away);
- refused before readiness dropped: connection attempts refused between
  SIGTERM and that first 503 (a load balancer still routes there), and how
  many of the clients saw one (a refused client retries every 10 ms);
- errors on requests started before readiness dropped: any answer but 200
  (refused, reset, closed without an answer, 5xx) for a request that began
  before the first 503; the figure that must be 0.

``haraka`` is ``haraka run containers.app:Application`` with
``orchestrator.drain_seconds`` = ``--drain``; ``uvicorn`` is ``python -m
uvicorn benchmarks._plain_app:app`` (the same app, its services under
``lifespan()``; uvicorn has no drain). ``--code DIR`` runs ``haraka`` from
another checkout (e.g. an exported older commit) for comparison. Bounded:
at most ``trials x modes`` servers, each for at most ~``warmup + drain +
10`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, Table, header, reproduce

REQUEST = b"GET /slow?seconds=0.1 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
PROBE = b"GET /health/ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


@dataclass
class Request:
    client: int
    began: float
    ended: float = math.inf
    outcome: str = "pending"  # a status code, or refused / reset / closed / timeout


@dataclass
class Trial:
    mode: str
    requests: list[Request] = field(default_factory=list)
    sigterm_at: float = 0.0
    first_503: float = math.inf
    exit_status: int | None = None
    exited_after: float = math.nan


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(mode: str, port: int, drain: float) -> list[str]:
    if mode == "haraka":
        return [
            sys.executable,
            "-m",
            "haraka_di",
            "run",
            "containers.app:Application",
            *("--set", f"config.server.port={port}"),
            *("--set", "config.server.access_log=false"),
            *("--set", "config.server.log_level=warning"),
            *("--set", "config.cache.warmup_seconds=0"),
            *("--set", f"orchestrator.drain_seconds={drain}"),
        ]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks._plain_app:app",
        *("--port", str(port), "--no-access-log", "--log-level", "warning"),
    ]


async def exchange(port: int, payload: bytes, timeout: float) -> str:
    """One request on a fresh connection: its status code, or what went wrong."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except ConnectionRefusedError:
        return "refused"
    except (OSError, TimeoutError):
        return "connect-error"
    try:
        writer.write(payload)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except TimeoutError:
        return "timeout"
    except OSError:
        return "reset"
    finally:
        writer.close()
    if not data:
        return "closed"
    parts = data.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 and parts[1].isdigit() else "garbled"


async def wait_ready(port: int, proc: asyncio.subprocess.Process, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")
        if await exchange(port, PROBE, 2) == "200":
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the server was not ready in time")


async def run_trial(mode: str, args: argparse.Namespace) -> Trial:
    port = free_port()
    cwd = Path(args.code) if (args.code and mode == "haraka") else ROOT
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        *server_command(mode, port, args.drain),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trial = Trial(mode)
    try:
        await wait_ready(port, proc, time.monotonic() + 60)
        stop_at = math.inf
        exited = asyncio.Event()

        async def client(number: int) -> None:
            while time.monotonic() < stop_at and not exited.is_set():
                request = Request(number, time.monotonic())
                trial.requests.append(request)
                request.outcome = await exchange(port, REQUEST, 15)
                request.ended = time.monotonic()
                if request.outcome in ("refused", "connect-error"):
                    await asyncio.sleep(0.01)

        async def prober() -> None:
            while not exited.is_set():
                outcome = await exchange(port, PROBE, 2)
                now = time.monotonic()
                if outcome == "503" and trial.sigterm_at and now < trial.first_503:
                    trial.first_503 = now
                await asyncio.sleep(0.005)

        async def watch_exit() -> None:
            trial.exit_status = await proc.wait()
            trial.exited_after = time.monotonic() - trial.sigterm_at
            exited.set()

        tasks = [asyncio.create_task(client(n)) for n in range(args.clients)]
        tasks.append(asyncio.create_task(prober()))
        await asyncio.sleep(args.warmup)
        trial.sigterm_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stop_at = trial.sigterm_at + args.drain + 8
        watcher = asyncio.create_task(watch_exit())
        await asyncio.wait({watcher}, timeout=args.drain + 10)
        exited.set()
        await asyncio.wait(tasks, timeout=20)
        for task in tasks:
            task.cancel()
        watcher.cancel()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return trial


@dataclass
class Summary:
    in_flight: int
    in_flight_ok: int
    ready_503_ms: float | None
    refused_before_drop: int
    clients_refused: int
    started_before_drop: int
    errors_before_drop: int
    error_kinds: list[str]
    after_drop_ok: int
    after_drop_refused: int
    exit: int | None
    exit_s: float
    requests: int


def summarise(trial: Trial) -> Summary:
    sig, drop = trial.sigterm_at, trial.first_503
    done = [r for r in trial.requests if r.outcome != "pending"]
    in_flight = [r for r in done if r.began < sig < r.ended]
    before = [r for r in done if r.began < drop]
    after = [r for r in done if r.began >= drop]
    errors = [r for r in before if r.outcome != "200"]
    return Summary(
        in_flight=len(in_flight),
        in_flight_ok=sum(r.outcome == "200" for r in in_flight),
        ready_503_ms=(drop - sig) * 1000 if drop < math.inf else None,
        refused_before_drop=sum(r.outcome == "refused" and r.began >= sig for r in before),
        clients_refused=len({r.client for r in before if r.outcome == "refused"}),
        started_before_drop=len(before),
        errors_before_drop=len(errors),
        error_kinds=sorted({r.outcome for r in errors}),
        after_drop_ok=sum(r.outcome == "200" for r in after),
        after_drop_refused=sum(r.outcome == "refused" for r in after),
        exit=trial.exit_status,
        exit_s=trial.exited_after,
        requests=len(trial.requests),
    )


def span(values: list[float]) -> str:
    if not values:
        return "-"
    lo, hi = round(min(values)), round(max(values))
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def describe(mode: str, number: int, r: Summary) -> str:
    drop = "never" if r.ready_503_ms is None else f"{r.ready_503_ms:.0f} ms"
    return (
        f"  {mode} trial {number}: in flight {r.in_flight_ok}/{r.in_flight} OK; "
        f"503 after {drop}; refused before the drop {r.refused_before_drop} "
        f"({r.clients_refused} clients); "
        f"errors before the drop {r.errors_before_drop}/{r.started_before_drop} "
        f"{' '.join(r.error_kinds)}; after it {r.after_drop_ok} OK, "
        f"{r.after_drop_refused} refused; exit {r.exit} {r.exit_s:.2f} s after SIGTERM; "
        f"{r.requests} requests"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--drain", type=float, default=2.0, help="haraka's drain_seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before SIGTERM")
    parser.add_argument(
        "--modes", nargs="+", choices=["haraka", "uvicorn"], default=["haraka", "uvicorn"]
    )
    parser.add_argument("--code", metavar="DIR", help="run haraka from this checkout instead")
    args = parser.parse_args(argv)
    if not 1 <= args.trials <= 50 or not 1 <= args.clients <= 200:
        parser.error("bounded: --trials 1..50, --clients 1..200")
    header(f"drain under load: {args.clients} clients, SIGTERM mid-load, {args.drain:g} s drain")
    table = Table(
        f"{args.trials} trial(s) per server",
        [
            "server",
            "in flight at SIGTERM: OK/total",
            "readiness 503 after SIGTERM",
            "refused before readiness dropped: attempts (clients)",
            "errors/requests started before it dropped",
            "exit status",
        ],
    )
    failed = False
    for mode in args.modes:
        results = [summarise(asyncio.run(run_trial(mode, args))) for _ in range(args.trials)]
        for number, result in enumerate(results, 1):
            print(describe(mode, number, result))
        ms = [r.ready_503_ms for r in results if r.ready_503_ms is not None]
        table.add(
            "haraka run" if mode == "haraka" else "plain uvicorn",
            f"{sum(r.in_flight_ok for r in results)}/{sum(r.in_flight for r in results)}",
            f"{span(ms)} ms" if ms else "never",
            f"{span([r.refused_before_drop for r in results])} "
            f"({span([r.clients_refused for r in results])})",
            f"{sum(r.errors_before_drop for r in results)}/"
            f"{sum(r.started_before_drop for r in results)}",
            " ".join(sorted({str(r.exit) for r in results})),
        )
        failed |= mode == "haraka" and any(r.errors_before_drop for r in results)
    table.print()
    reproduce()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
