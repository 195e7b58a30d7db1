"""Overhead: start and stop N no-op services, side by side.

Contenders, each starting then stopping N services that do nothing:

- ``exit stack``: a bare ``contextlib.AsyncExitStack``, sequential: for each
  service ``await svc.startup()`` then ``push_async_callback(svc.shutdown)``.
  This is the floor: no ordering, no concurrency, no timeouts, no state.
- ``asyncio.gather``: every start, then every stop, in a task of its own,
  unordered: what concurrency alone costs (haraka_di runs each step in a
  task too, so that independent services start at the same time).
- ``haraka_di``: ``await orch.run()`` / ``await orch.shutdown()``, with the
  services registered by ``use()`` or declared in a container (then ``run()``
  also discovers the graph, plans it and builds the instances). Every start
  and stop gets its own task, a timeout, state events and readiness.
- ``dependency-injector``: ``await container.init_resources()`` /
  ``await container.shutdown_resources()`` on async generator ``Resource``
  providers.

"independent": no edges. "chained": service i depends on service i-1.
dependency-injector's ``shutdown_resources`` is quadratic in N (cubic on a
chain), so it runs only up to ``--di-max`` / ``--di-chain-max`` services;
the scaling table fits the growth and projects the rest.

    python benchmarks/bench_overhead.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from _common import Table, best, cpu_clock, fmt, header, ratio, repeat, reproduce

from haraka_di import Orchestrator, Service, ServiceState

Timing = tuple[float, float]  # seconds to start all, seconds to stop all


class Noop(Service):
    """Does nothing; the optional argument lets a container chain them."""

    def __init__(self, dep: object = None) -> None:
        super().__init__()


def _names(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


async def exit_stack(n: int, chained: bool) -> Timing:
    # Sequential, so chained and independent are the same thing here.
    services = [Noop() for _ in range(n)]
    stack = contextlib.AsyncExitStack()
    t0 = cpu_clock()
    for svc in services:
        await svc.startup()
        stack.push_async_callback(svc.shutdown)
    t1 = cpu_clock()
    await stack.aclose()
    return t1 - t0, cpu_clock() - t1


async def task_per_service(n: int, chained: bool) -> Timing:
    # What running each start and stop in its own task costs by itself (no
    # ordering, no timeouts, no state): the price of starting concurrently.
    services = [Noop() for _ in range(n)]
    t0 = cpu_clock()
    await asyncio.gather(*(svc.startup() for svc in services))
    t1 = cpu_clock()
    await asyncio.gather(*(svc.shutdown() for svc in reversed(services)))
    return t1 - t0, cpu_clock() - t1


async def haraka_use(n: int, chained: bool) -> Timing:
    orch = Orchestrator()
    previous: list[str] = []
    for name in _names(n):
        svc = Noop()
        svc.name = name
        orch.use(svc, dependencies=previous if chained else ())
        previous = [name]
    return await _run_haraka(orch, n)


async def haraka_container(n: int, chained: bool) -> Timing:
    from dependency_injector import containers, providers

    container = containers.DynamicContainer()
    previous: Any = None
    for name in _names(n):
        provider = providers.Singleton(Noop, previous) if chained else providers.Singleton(Noop)
        setattr(container, name, provider)
        previous = provider
    return await _run_haraka(Orchestrator(container), n)


async def _run_haraka(orch: Orchestrator, n: int) -> Timing:
    t0 = cpu_clock()
    await orch.run()
    t1 = cpu_clock()
    await orch.shutdown()
    t2 = cpu_clock()
    report = orch.report()
    if len(report) != n or any(r.state is not ServiceState.STOPPED for r in report):
        raise RuntimeError("haraka_di did not start and stop every service")
    return t1 - t0, t2 - t1


async def _resource(dep: object = None) -> Any:
    yield None


async def dependency_injector(n: int, chained: bool) -> Timing:
    from dependency_injector import containers, providers

    container = containers.DynamicContainer()
    previous: Any = None
    for name in _names(n):
        if chained and previous is not None:
            provider = providers.Resource(_resource, previous)
        else:
            provider = providers.Resource(_resource)
        setattr(container, name, provider)
        previous = provider
    t0 = cpu_clock()
    await container.init_resources()
    t1 = cpu_clock()
    await container.shutdown_resources()
    t2 = cpu_clock()
    if any(p.initialized for p in container.traverse(types=[providers.Resource])):
        raise RuntimeError("dependency-injector left resources initialized")
    return t1 - t0, t2 - t1


Contender = Callable[[int, bool], Coroutine[Any, Any, Timing]]


Entry = tuple[str, Contender, bool]  # label, contender, chained


def measure(
    contenders: Sequence[Entry], n: int, times: int, budget: float = 20.0
) -> dict[str, Timing]:
    """Each contender's best start and best stop over ``times`` rounds (fewer
    once it has spent ``budget`` s). A round runs every contender once, in
    turn: this shared machine's speed drifts for seconds at a time, and
    interleaving gives every contender the same fast and slow moments."""
    starts: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
    stops: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
    spent = dict.fromkeys(starts, 0.0)
    for _ in range(times):
        for label, fn, chained in contenders:
            if spent[label] > budget:
                continue
            start, stop = repeat(1, functools.partial(asyncio.run, fn(n, chained)))[0]
            starts[label].append(start)
            stops[label].append(stop)
            spent[label] += start + stop
    return {label: (best(starts[label]), best(stops[label])) for label in starts}


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(time) against log(N)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per cell (best is kept)")
    parser.add_argument("--di-max", type=int, default=1000, help="largest N for DI, independent")
    parser.add_argument("--di-chain-max", type=int, default=200, help="largest N for DI, chained")
    args = parser.parse_args(argv)
    header("overhead: start + stop N no-op services (CPU time of this process)")

    contenders: list[Entry] = [
        ("exit stack (floor)", exit_stack, False),
        ("asyncio.gather, a task per step", task_per_service, False),
        ("haraka_di use(), independent", haraka_use, False),
        ("haraka_di use(), chained", haraka_use, True),
        ("haraka_di container, independent", haraka_container, False),
        ("haraka_di container, chained", haraka_container, True),
        ("dependency-injector, independent", dependency_injector, False),
        ("dependency-injector, chained", dependency_injector, True),
    ]
    stop_points: dict[str, list[tuple[int, float]]] = {label: [] for label, _, _ in contenders}
    cap = {False: args.di_max, True: args.di_chain_max}

    for n in args.sizes:
        table = Table(
            f"N = {n:,} services (microseconds per service, best of {args.repeat})",
            ["contender", "start", "stop", "start+stop", "vs floor", "stop total s"],
        )
        runnable = [c for c in contenders if c[1] is not dependency_injector or n <= cap[c[2]]]
        timings = measure(runnable, n, args.repeat)
        floor_total: float | None = None
        for label, _, chained in contenders:
            if label not in timings:
                table.add(label, "-", "-", "-", "-", f"skipped (N > {cap[chained]:,})")
                continue
            start, stop = timings[label]
            stop_points[label].append((n, stop))
            total = (start + stop) / n * 1e6
            if floor_total is None:
                floor_total = total
            table.add(
                label, start / n * 1e6, stop / n * 1e6, total, ratio(total, floor_total), stop
            )
        table.print()

    # The stop scaling: add smaller sizes for dependency-injector, fit N^k.
    for chained in (False, True):
        label = f"dependency-injector, {'chained' if chained else 'independent'}"
        top = cap[chained]
        done = {n for n, _ in stop_points[label]}
        for n in (top // 4, top // 2, top):
            if n >= 10 and n not in done:
                timing = measure([(label, dependency_injector, chained)], n, 1)[label]
                stop_points[label].append((n, timing[1]))
        stop_points[label].sort()
    # ... and sizes in between for the others (two points make a noisy fit).
    low, high = min(args.sizes), max(args.sizes)
    between = [n for n in (2 * low, 5 * low, 20 * low, 50 * low) if n < high]
    ours = [c for c in contenders if c[1] is not dependency_injector]
    for n in between:
        for label, (_, stop) in measure(ours, n, args.repeat).items():
            stop_points[label].append((n, stop))
    for label, _, _ in ours:
        stop_points[label].sort()
    scaling = Table(
        "stop scaling: total stop time T(N), fitted T ~ N^k",
        ["contender", "N measured", "stop s at largest N", "k", "projected stop s at 10,000"],
    )
    for label, _, _ in contenders:
        points = stop_points[label]
        if not points:
            continue
        k = exponent(points)
        n_max, t_max = points[-1]
        projected = t_max * (10000 / n_max) ** k if k is not None else None
        scaling.add(
            label,
            ", ".join(f"{n:,}" for n, _ in points),
            t_max,
            "-" if k is None else f"{k:.2f}",
            "-" if projected is None or n_max == 10000 else fmt(projected),
        )
    scaling.note("k = 1 is linear, 2 quadratic, 3 cubic")
    scaling.print()
    print()
    reproduce()


if __name__ == "__main__":
    main()
