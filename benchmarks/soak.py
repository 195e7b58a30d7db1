"""Soak: many start/stop cycles of one 50-service container in one process.

Each cycle makes a new Orchestrator over the same container (an orchestrator
runs once; the container is reused, its singletons reset after each run),
runs it with real signal handlers, and shuts it down. The services open and
close a socket pair, spawn background tasks, and add shutdown tasks, so a
leak of any of those would show. Checked after every cycle: pending tasks,
open file descriptors, installed signal handlers (Python's and asyncio's);
sampled: RSS and tracemalloc's traced memory.

    python benchmarks/soak.py                      # 1,000 cycles, 50 services
    python benchmarks/soak.py --cycles 200 --services 20

Exits 1 if tasks, fds or signal handlers grew, or if traced memory after
the warm-up grew by more than --max-growth-kb.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import socket
import sys
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from dependency_injector import containers, providers

from haraka_di import Orchestrator, Runtime, Service

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Node(Service):
    """Every 5th holds a socket pair; every 7th spawns a background task."""

    def __init__(self, runtime: Runtime, *deps: object) -> None:
        super().__init__(runtime)
        self.deps = deps
        self.sockets: tuple[socket.socket, socket.socket] | None = None

    async def startup(self) -> None:
        index = int(self.name[1:])
        await asyncio.sleep(0)
        if index % 5 == 0:
            self.sockets = socket.socketpair()
        if index % 7 == 0:
            self.runtime.spawn(_idle, name=f"{self.name}.poller", restart="on-failure")
            self.runtime.add_shutdown_task(_noop)

    async def shutdown(self) -> None:
        await asyncio.sleep(0)
        if self.sockets is not None:
            for sock in self.sockets:
                sock.close()
            self.sockets = None


async def _idle() -> None:
    await asyncio.Event().wait()


async def _noop() -> None:
    await asyncio.sleep(0)


def make_container(n: int, seed: int) -> Any:
    rng = random.Random(seed)
    container = containers.DynamicContainer()
    container.runtime = providers.Dependency(instance_of=Runtime)
    made: list[Any] = []
    for i in range(n):
        deps = rng.sample(made, min(len(made), rng.randint(0, 3)))
        provider = providers.Singleton(Node, container.runtime, *deps)
        setattr(container, f"s{i}", provider)
        made.append(provider)
    return container


@dataclass
class Sample:
    cycle: int
    tasks: int
    fds: int
    handlers: int
    rss_kb: int
    traced_kb: float


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def rss_kb() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def traced_kb() -> float:
    """Memory allocated since tracemalloc started, except by this script
    itself (its samples) and tracemalloc's own snapshots."""
    if not tracemalloc.is_tracing():
        return 0.0
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, __file__), tracemalloc.Filter(False, tracemalloc.__file__))
    )
    return sum(stat.size for stat in snapshot.statistics("filename")) / 1024


def installed_handlers(loop: asyncio.AbstractEventLoop) -> int:
    """asyncio-installed handlers plus Python handlers that differ from the
    process's defaults."""
    asyncio_handlers = len(getattr(loop, "_signal_handlers", {}))
    return asyncio_handlers + sum(
        signal.getsignal(s) is not d for s, d in zip(SIGNALS, DEFAULTS, strict=True)
    )


DEFAULTS = tuple(signal.getsignal(s) for s in SIGNALS)


async def soak(cycles: int, services: int, seed: int, every: int) -> list[Sample]:
    container = make_container(services, seed)
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    samples: list[Sample] = []
    baseline = (len(asyncio.all_tasks()), open_fds(), installed_handlers(loop))
    for cycle in range(1, cycles + 1):
        orch = Orchestrator(container, stop_timeout=5, start_timeout=5)
        await orch.run()
        if not orch.is_ready():
            raise SystemExit(f"cycle {cycle}: not all services ready")
        await orch.shutdown()
        await asyncio.sleep(0)  # let cancelled tasks finish their last step
        tasks = sum(1 for t in asyncio.all_tasks() if t is not me and not t.done())
        now = (tasks + 1, open_fds(), installed_handlers(loop))
        if now != baseline:
            raise SystemExit(
                f"cycle {cycle}: tasks/fds/handlers {now} differ from before the soak {baseline}"
            )
        if cycle == 1 or cycle % every == 0:
            gc.collect()
            traced = traced_kb()
            samples.append(Sample(cycle, tasks, now[1], now[2], rss_kb(), traced))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--every", type=int, default=100, help="sample memory every N cycles")
    parser.add_argument("--warmup", type=int, default=100, help="cycles before the memory baseline")
    parser.add_argument("--max-growth-kb", type=float, default=256.0)
    parser.add_argument("--no-tracemalloc", action="store_true", help="RSS only (faster)")
    args = parser.parse_args(argv)
    if not args.no_tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    samples = asyncio.run(soak(args.cycles, args.services, args.seed, args.every))
    elapsed = time.perf_counter() - t0
    print(f"soak: {args.cycles} start/stop cycles of a {args.services}-service container")
    print(f"{'cycle':>6} {'tasks':>6} {'fds':>5} {'handlers':>9} {'rss MB':>8} {'traced KB':>10}")
    for s in samples:
        print(
            f"{s.cycle:>6} {s.tasks:>6} {s.fds:>5} {s.handlers:>9} "
            f"{s.rss_kb / 1024:>8.1f} {s.traced_kb:>10.1f}"
        )
    base = next((s for s in samples if s.cycle >= args.warmup), samples[0])
    last = samples[-1]
    growth = last.traced_kb - base.traced_kb
    per_cycle_ms = elapsed / args.cycles * 1000
    print(
        f"{elapsed:.1f} s in all, {per_cycle_ms:.2f} ms per cycle "
        f"({per_cycle_ms / args.services * 1000:.0f} us per service start+stop"
        f"{', tracemalloc on' if not args.no_tracemalloc else ''})"
    )
    print(
        f"tasks, fds and signal handlers: unchanged after every cycle; "
        f"traced memory cycle {base.cycle} -> {last.cycle}: {growth:+.1f} KB, "
        f"RSS {(last.rss_kb - base.rss_kb) / 1024:+.1f} MB"
    )
    if not args.no_tracemalloc and growth > args.max_growth_kb:
        print(f"FAIL: traced memory grew by more than {args.max_growth_kb} KB", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
