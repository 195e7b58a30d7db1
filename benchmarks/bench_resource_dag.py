"""Resource DAG: startup wall time of a random DAG of Resources against a hand-written scheduler.

The graph is bench_critical_path.py's (same generator, same seed: 200
nodes, each depending on up to ``--max-deps`` random earlier ones), built
of async-generator ``providers.Resource``: each sleeps its seeded random
5-20 ms before its ``yield``, and resource i receives its dependencies as
arguments. The critical path is the longest chain of init durations: no
scheduler can start the whole graph faster.

Contenders, in the same run, interleaved round by round, each starting a
fresh container of those Resources:

- ``asyncio by hand, provider.init()``: the reference. One task per node
  awaiting its dependencies' events, then ``await provider.init()``:
  the same work haraka_di must do (dependency-injector initialises the
  Resource), scheduled by a program written for this graph.
- ``asyncio by hand, bare generators``: the same scheduler driving the
  async generators directly, no dependency-injector at all: the event
  loop's own limit.
- ``haraka_di``: ``Orchestrator(container, handle_signals=False)``,
  ``await orch.run()``; the edges are derived from the Resources'
  arguments. A version of haraka_di that does not treat Resources as nodes
  plans 0 of them; the script detects that and prints a "skipped" line
  instead of numbers.
- ``dependency-injector init_resources``: for comparison.

Only the startup is timed; every contender then closes what it opened.

    python benchmarks/bench_resource_dag.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
from collections.abc import Callable, Coroutine
from typing import Any

from _common import Table, clock, header, reproduce
from bench_critical_path import Graph, critical_path, make_graph

from haraka_di import Orchestrator

SKIPPED = "haraka_di does not orchestrate Resources in this version: skipped"


class NotOrchestrated(Exception):
    """haraka_di planned or opened something other than the graph's resources."""


class Probe:
    """What one run's resources record: each init's measured sleep, when the
    first init began, and how many were opened and closed."""

    def __init__(self, n: int) -> None:
        self.took = [0.0] * n
        self.t0 = 0.0  # when the contender began to start the graph
        self.first: float | None = None
        self.opened = 0
        self.closed = 0

    async def resource(self, duration: float, index: int, *deps: object) -> Any:
        t0 = clock()
        if self.first is None:
            self.first = t0
        await asyncio.sleep(duration)
        self.took[index] = clock() - t0
        self.opened += 1
        yield index
        self.closed += 1


def make_container(graph: Graph, probe: Probe) -> tuple[Any, list[Any]]:
    from dependency_injector import containers, providers

    durations, deps = graph
    container = containers.DynamicContainer()
    made: list[Any] = []
    for i, d in enumerate(durations):
        provider = providers.Resource(probe.resource, d, i, *(made[j] for j in deps[i]))
        setattr(container, f"r{i}", provider)
        made.append(provider)
    return container, made


def _check(probe: Probe, made: list[Any], who: str) -> None:
    n = len(made)
    if probe.opened != n or probe.closed != n or any(p.initialized for p in made):
        raise RuntimeError(f"{who} opened {probe.opened} and closed {probe.closed} of {n}")


async def _by_hand(
    graph: Graph, probe: Probe, init: Callable[[int], Coroutine[Any, Any, Any]]
) -> float:
    """One task per node: await its dependencies' events, then ``init(i)``."""
    durations, deps = graph
    started = [asyncio.Event() for _ in durations]

    async def start(i: int) -> None:
        for j in deps[i]:
            await started[j].wait()
        await init(i)
        started[i].set()

    t0 = probe.t0 = clock()
    await asyncio.gather(*(start(i) for i in range(len(durations))))
    return clock() - t0


async def by_hand_providers(graph: Graph, probe: Probe) -> float:
    _, made = make_container(graph, probe)

    async def init(i: int) -> None:
        await made[i].init()

    wall = await _by_hand(graph, probe, init)
    for provider in reversed(made):  # index order is a dependency order
        await provider.shutdown()
    _check(probe, made, "asyncio by hand")
    return wall


async def by_hand_generators(graph: Graph, probe: Probe) -> float:
    durations, deps = graph
    values: list[Any] = [None] * len(durations)
    gens: list[Any] = [None] * len(durations)

    async def init(i: int) -> None:
        gens[i] = probe.resource(durations[i], i, *(values[j] for j in deps[i]))
        values[i] = await gens[i].__anext__()

    wall = await _by_hand(graph, probe, init)
    for gen in reversed(gens):
        with contextlib.suppress(StopAsyncIteration):
            await gen.__anext__()
    if probe.opened != len(durations) or probe.closed != len(durations):
        raise RuntimeError("bare generators: not every resource was opened and closed")
    return wall


async def haraka(graph: Graph, probe: Probe) -> float:
    container, made = make_container(graph, probe)
    orch = Orchestrator(container, handle_signals=False)
    t0 = probe.t0 = clock()
    await orch.run()
    wall = clock() - t0
    plan = orch.plan()
    planned, edges, opened = len(plan), plan.edge_count, probe.opened
    await orch.shutdown()
    if planned != len(made) or opened != len(made):
        raise NotOrchestrated(f"planned {planned} node(s), opened {opened} of {len(made)}")
    if edges != sum(len(d) for d in graph[1]):
        raise RuntimeError(f"haraka_di derived {edges} edges, the graph has a different count")
    _check(probe, made, "haraka_di")
    return wall


async def dependency_injector(graph: Graph, probe: Probe) -> float:
    container, made = make_container(graph, probe)
    t0 = probe.t0 = clock()
    await container.init_resources()
    wall = clock() - t0
    await container.shutdown_resources()
    _check(probe, made, "dependency-injector")
    return wall


Contender = Callable[[Graph, Probe], Coroutine[Any, Any, float]]
REFERENCE = "asyncio by hand, provider.init()"
TARGET = 1.02  # haraka_di's startup wall / the reference's, paired by round


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--max-deps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=11, help="rounds")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first, not counted")
    args = parser.parse_args(argv)
    header("resource DAG: startup wall time of a DAG of Resources / longest chain")
    graph = make_graph(args.nodes, args.max_deps, args.seed)
    cp, hops = critical_path(graph)
    edges = sum(len(d) for d in graph[1])
    print(
        f"graph: {args.nodes} resources, {edges} edges, seed {args.seed}; critical path "
        f"{cp * 1000:.1f} ms over {hops} resources; sum of durations {sum(graph[0]) * 1000:.0f} ms"
    )
    contenders: list[tuple[str, Contender]] = [
        (REFERENCE, by_hand_providers),
        ("haraka_di", haraka),
        ("asyncio by hand, bare generators", by_hand_generators),
        ("dependency-injector init_resources", dependency_injector),
    ]
    # Rounds run every contender once, in turn: this shared machine's speed
    # drifts for seconds at a time, and interleaving gives every contender
    # the same fast and slow moments.
    walls: dict[str, list[float]] = {label: [] for label, _ in contenders}
    measured: dict[str, list[float]] = {label: [] for label, _ in contenders}
    firsts: dict[str, list[float]] = {label: [] for label, _ in contenders}
    skipped: set[str] = set()
    # The first round of a fresh interpreter is cold (imports, code paths
    # run for the first time: +30% here), so warm-up rounds go uncounted.
    # Each round also starts one contender later than the previous one, so
    # that no contender always runs right after the same other one.
    for round_ in range(args.warmup + args.repeat):
        shift = round_ % len(contenders)
        for label, fn in contenders[shift:] + contenders[:shift]:
            if label in skipped:
                continue
            probe = Probe(args.nodes)
            gc.collect()
            try:
                wall = asyncio.run(fn(graph, probe))
            except NotOrchestrated:
                skipped.add(label)
                continue
            if round_ < args.warmup:
                continue
            walls[label].append(wall)
            measured[label].append(wall / critical_path((probe.took, graph[1]))[0])
            if probe.first is not None:
                firsts[label].append(probe.first - probe.t0)
    table = Table(
        f"startup wall / critical path (median of {args.repeat} rounds after {args.warmup} "
        "warm-up; 1.00 = the critical path)",
        [
            "contender",
            "runs",
            "wall ms",
            "vs nominal path",
            "vs measured path",
            "best vs nominal",
            "before 1st init ms",
            "vs reference",
        ],
    )
    for label, _ in contenders:
        if label in skipped:
            table.add(label, 0, "-", "-", "-", "-", "-", "skipped (see below)")
            continue
        med = statistics.median(walls[label])
        paired = [a / b for a, b in zip(walls[label], walls[REFERENCE], strict=True)]
        table.add(
            label,
            len(walls[label]),
            med * 1000,
            f"{med / cp:.3f}",
            f"{statistics.median(measured[label]):.3f}",
            f"{min(walls[label]) / cp:.3f}",
            statistics.median(firsts[label]) * 1000 if firsts[label] else "-",
            f"{statistics.median(paired):.3f}x",
        )
    table.note(f"nominal path: the longest chain of the requested durations ({cp * 1000:.1f} ms)")
    table.note(
        "measured path: the same, with each resource's measured sleep (asyncio timers "
        "overshoot by up to ~1 ms each), i.e. what is left is scheduling"
    )
    table.note(
        "before 1st init: from the start call to the first resource's init (haraka_di "
        "derives the graph and plans first)"
    )
    table.note(
        f"vs reference: median over rounds of wall / the same round's wall of '{REFERENCE}' "
        "(paired: the machine's drift cancels)"
    )
    table.note(f"target for haraka_di: <= {TARGET}x the reference")
    if skipped:
        table.note(SKIPPED)
    table.print()
    print()
    if walls["haraka_di"]:
        paired = [a / b for a, b in zip(walls["haraka_di"], walls[REFERENCE], strict=True)]
        got = statistics.median(paired)
        verdict = "met" if got <= TARGET else "missed"
        print(f"target: haraka_di startup <= {TARGET}x the reference: {got:.3f}x, {verdict}")
        print()
    if skipped:
        print(SKIPPED)
        print()
    reproduce()


if __name__ == "__main__":
    main()
