"""Resources: start and stop N async-generator ``providers.Resource``, side by side.

Each resource is an async generator that yields at once and cleans up at
once (the code after its ``yield`` only counts the close). "independent":
no edges; "chained": resource i receives resource i-1 as its argument.

Contenders, in the same run, interleaved round by round:

- ``haraka_di``: ``Orchestrator(container, handle_signals=False)``, then
  ``await orch.run()`` / ``await orch.shutdown()``: every Resource is a
  node, initialised in dependency order and cleaned up in reverse. A
  version of haraka_di that does not treat Resources as nodes plans 0 of
  them; the script detects that and prints a "skipped" line instead of
  numbers.
- ``dependency-injector``: ``await container.init_resources()`` /
  ``await container.shutdown_resources()`` on the same container shape.
  ``shutdown_resources()`` rescans every resource for each one it stops:
  quadratic in N on independent resources, cubic on a chain. It runs only
  up to ``--di-max`` / ``--di-chain-max`` resources; larger sizes are
  haraka_di alone, marked as such.

Times are CPU seconds of this process (the work never waits), each
contender's best start and best stop over the rounds.

    python benchmarks/bench_resources.py
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from _common import Table, best, cpu_clock, header, repeat, reproduce
from bench_overhead import exponent

from haraka_di import Orchestrator, ServiceState

Timing = tuple[float, float]  # seconds to start all, seconds to stop all

SKIPPED = "haraka_di does not orchestrate Resources in this version: skipped"

#: resources opened and closed so far (each contender checks its own run)
COUNTS = [0, 0]


class NotOrchestrated(Exception):
    """haraka_di planned something other than the N resources."""


async def _resource(dep: object = None) -> Any:
    COUNTS[0] += 1
    yield None
    COUNTS[1] += 1


def make_container(n: int, chained: bool) -> Any:
    from dependency_injector import containers, providers

    container = containers.DynamicContainer()
    previous: Any = None
    for i in range(n):
        if chained and previous is not None:
            provider = providers.Resource(_resource, previous)
        else:
            provider = providers.Resource(_resource)
        setattr(container, f"r{i}", provider)
        previous = provider
    return container


def _resources(container: Any) -> list[Any]:
    from dependency_injector import providers

    return list(container.traverse(types=[providers.Resource]))


def _check_closed(container: Any, n: int, who: str) -> None:
    if [n, n] != COUNTS:
        raise RuntimeError(f"{who} opened {COUNTS[0]} and closed {COUNTS[1]} of {n} resources")
    if any(p.initialized for p in _resources(container)):
        raise RuntimeError(f"{who} left resources initialized")


async def haraka(n: int, chained: bool) -> Timing:
    container = make_container(n, chained)
    orch = Orchestrator(container, handle_signals=False)
    COUNTS[:] = [0, 0]
    t0 = cpu_clock()
    await orch.run()
    t1 = cpu_clock()
    planned = len(orch.plan())
    opened = COUNTS[0]
    await orch.shutdown()
    t2 = cpu_clock()
    if planned != n or opened != n:
        raise NotOrchestrated(f"planned {planned} node(s), opened {opened} of {n} resources")
    report = orch.report()
    if len(report) != n or any(r.state is not ServiceState.STOPPED for r in report):
        raise RuntimeError("haraka_di did not start and stop every resource")
    _check_closed(container, n, "haraka_di")
    return t1 - t0, t2 - t1


async def dependency_injector(n: int, chained: bool) -> Timing:
    container = make_container(n, chained)
    COUNTS[:] = [0, 0]
    t0 = cpu_clock()
    await container.init_resources()
    t1 = cpu_clock()
    await container.shutdown_resources()
    t2 = cpu_clock()
    _check_closed(container, n, "dependency-injector")
    return t1 - t0, t2 - t1


Contender = Callable[[int, bool], Coroutine[Any, Any, Timing]]
Entry = tuple[str, Contender, bool]  # label, contender, chained


def measure(
    contenders: Sequence[Entry], n: int, times: int, budget: float
) -> dict[str, Timing | None]:
    """Each contender's best start and best stop over ``times`` rounds (fewer
    once it has spent ``budget`` s), None for a skipped haraka_di. A round
    runs every contender once, in turn: this shared machine's speed drifts
    for seconds at a time, and interleaving gives every contender the same
    fast and slow moments."""
    starts: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
    stops: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
    skipped: set[str] = set()
    spent = dict.fromkeys(starts, 0.0)
    for _ in range(times):
        for label, fn, chained in contenders:
            if label in skipped or (starts[label] and spent[label] > budget):
                continue
            try:
                start, stop = repeat(1, functools.partial(asyncio.run, fn(n, chained)))[0]
            except NotOrchestrated:
                skipped.add(label)
                continue
            starts[label].append(start)
            stops[label].append(stop)
            spent[label] += start + stop
    return {
        label: None if label in skipped else (best(starts[label]), best(stops[label]))
        for label in starts
    }


def times_ratio(a: float | None, b: float | None) -> str:
    """``a / b`` with three significant digits (stop ratios go far below 0.01)."""
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.3g}x"


def per_10x(points: Sequence[tuple[int, float]]) -> str:
    """Growth of the time per 10x more resources between consecutive sizes."""
    cells = []
    for (n1, t1), (n2, t2) in itertools.pairwise(points):
        if t1 > 0 and t2 > 0:
            cells.append(f"{(t2 / t1) ** (1 / math.log10(n2 / n1)):.1f}x")
        else:
            cells.append("-")
    return ", ".join(cells) or "-"


#: a fitted exponent up to this counts as linear: the spread of the floor
#: itself on the shared reference machine (docs/performance.md, section 1)
LINEAR_K = 1.3


def targets(results: dict[int, dict[str, Timing | None]], sizes: Sequence[int]) -> Table:
    table = Table("targets (issue 13)", ["target", "result", "met?"])
    at = results.get(1000, {})
    ours, theirs = at.get("haraka_di, independent"), at.get("dependency-injector, independent")
    if ours is None or theirs is None:
        why = "haraka_di skipped" if 1000 in results and ours is None else "N = 1,000 not run"
        table.add("stop, 1,000 independent: >= 100x faster than shutdown_resources()", why, "-")
        table.add("start, 1,000 independent: no slower than init_resources()", why, "-")
    else:
        table.add(
            "stop, 1,000 independent: >= 100x faster than shutdown_resources()",
            f"{theirs[1] / ours[1]:,.0f}x faster",
            "yes" if theirs[1] >= 100 * ours[1] else "no",
        )
        table.add(
            "start, 1,000 independent: no slower than init_resources()",
            f"{ours[0] / theirs[0]:.3f}x its time",
            "yes" if ours[0] <= theirs[0] else "no",
        )
    points = [
        (n, t[1])
        for n in sizes
        if n >= 100 and (t := results[n].get("haraka_di, independent")) is not None
    ]
    k = exponent(points)
    skipped = any(r.get("haraka_di, independent", 0) is None for r in results.values())
    if k is not None:
        fitted = f"k = {k:.2f} over {', '.join(f'{n:,}' for n, _ in points)}"
    else:
        fitted = "haraka_di skipped" if skipped else "fewer than two sizes >= 100"
    table.add(
        f"haraka_di stop linear in N (fitted k <= {LINEAR_K}, N >= 100)",
        fitted,
        "-" if k is None else "yes" if k <= LINEAR_K else "no",
    )
    table.note("T ~ N^k: k = 1 is linear, 2 quadratic; N = 10 is left out (fixed costs)")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=5, help="rounds per size (best is kept)")
    parser.add_argument("--di-max", type=int, default=1000, help="largest N for DI, independent")
    parser.add_argument("--di-chain-max", type=int, default=100, help="largest N for DI, chained")
    parser.add_argument("--budget", type=float, default=20.0, help="s per contender and size")
    args = parser.parse_args(argv)
    header("resources: start + stop N async-generator Resources (CPU time of this process)")
    sizes = sorted(set(args.sizes))
    cap = {False: args.di_max, True: args.di_chain_max}
    contenders: list[Entry] = [
        ("haraka_di, independent", haraka, False),
        ("dependency-injector, independent", dependency_injector, False),
        ("haraka_di, chained", haraka, True),
        ("dependency-injector, chained", dependency_injector, True),
    ]
    results: dict[int, dict[str, Timing | None]] = {}
    for n in sizes:
        runnable = [c for c in contenders if c[1] is haraka or n <= cap[c[2]]]
        results[n] = measure(runnable, n, args.repeat, args.budget)
        table = Table(
            f"N = {n:,} resources (microseconds per resource, best of {args.repeat} rounds)",
            ["contender", "start", "stop", "start total ms", "stop total ms"],
        )
        for label, _, chained in contenders:
            if label not in results[n]:
                why = "quadratic" if not chained else "cubic"
                table.add(label, "-", "-", "-", f"skipped (N > {cap[chained]:,}: {why} stop)")
                continue
            timing = results[n][label]
            if timing is None:
                table.add(label, "-", "-", "-", "skipped (see below)")
                continue
            start, stop = timing
            table.add(label, start / n * 1e6, stop / n * 1e6, start * 1e3, stop * 1e3)
        if any(t is None for t in results[n].values()):
            table.note(SKIPPED)
        elif any(label not in results[n] for label, _, _ in contenders):
            table.note("rows without dependency-injector are haraka_di alone at this size")
        table.print()

    haraka_ok = all(t is not None for r in results.values() for t in r.values())
    ratios = Table(
        "ratio haraka_di / dependency-injector, total time (< 1 is faster)",
        ["N", "start, independent", "stop, independent", "start, chained", "stop, chained"],
    )
    for n in sizes:
        cells: list[str] = []
        for shape in ("independent", "chained"):
            ours = results[n].get(f"haraka_di, {shape}")
            theirs = results[n].get(f"dependency-injector, {shape}")
            if ours is None or theirs is None:
                cells += ["haraka_di alone" if ours and not theirs else "-"] * 2
            else:
                cells += [times_ratio(ours[0], theirs[0]), times_ratio(ours[1], theirs[1])]
        ratios.add(f"{n:,}", *cells)
    if not haraka_ok:
        ratios.note(SKIPPED)
    ratios.note(
        "targets at 1,000 independent: start <= 1x (no slower than init_resources()), "
        "stop <= 0.01x (at least 100x faster than shutdown_resources())"
    )
    ratios.print()

    growth = Table(
        "growth of the total time per 10x resources, between consecutive sizes (10x = linear)",
        ["contender", "N measured", "start per 10x", "stop per 10x"],
    )
    for label, _, _ in contenders:
        points = [(n, results[n][label]) for n in sizes if results[n].get(label) is not None]
        if not points:
            growth.add(label, "-", "-", "skipped")
            continue
        growth.add(
            label,
            ", ".join(f"{n:,}" for n, _ in points),
            per_10x([(n, t[0]) for n, t in points if t]),
            per_10x([(n, t[1]) for n, t in points if t]),
        )
    growth.note("target: haraka_di's stop grows linearly (about 10x per 10x)")
    if not haraka_ok:
        growth.note(SKIPPED)
    growth.print()
    targets(results, sizes).print()
    if not haraka_ok:
        print()
        print(SKIPPED)
    print()
    reproduce()


if __name__ == "__main__":
    main()
