"""Planning scale: graph derivation from a container plus planning.

A container of N ``Singleton`` service providers; each takes (up to) three
random earlier services as constructor arguments, so the graph has ~3N
edges, all of which haraka_di must derive by walking the providers. Timed:
``discover`` (container -> services and edges), and ``Orchestrator(c).plan()``
(discovery + validation + effective priorities + order + waves), which is
what ``run()`` does before starting anything. The growth factor per 10x
services should stay near 10x (linear); the target is <= 12x.

    python benchmarks/bench_planning.py
"""

from __future__ import annotations

import argparse
import math
import random
from typing import Any

from _common import Table, best, cpu_clock, header, repeat, reproduce

from haraka_di import Orchestrator, Runtime, Service
from haraka_di._graph import discover


class Node(Service):
    def __init__(self, *deps: object) -> None:
        super().__init__()


def make_container(n: int, edges: int, seed: int) -> Any:
    from dependency_injector import containers, providers

    rng = random.Random(seed)
    container = containers.DynamicContainer()
    made: list[Any] = []
    for i in range(n):
        deps = rng.sample(made, min(i, edges)) if i else []
        provider = providers.Singleton(Node, *deps)
        setattr(container, f"s{i}", provider)
        made.append(provider)
    return container


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--edges", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (best is kept)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    header("planning scale: container -> graph -> plan (CPU time of this process)")
    table = Table(
        f"best of {args.repeat}; growth = time / time at the previous size",
        ["services", "edges", "discover ms", "plan() ms", "us per service", "growth", "per 10x"],
    )
    previous: tuple[int, float] | None = None
    for n in args.sizes:
        container = make_container(n, args.edges, args.seed)
        graph = discover(container, Runtime)
        edges = sum(len(s.dependencies) for s in graph.services)
        if len(graph.services) != n:
            raise RuntimeError(f"discovered {len(graph.services)} services, expected {n}")

        def timed_discover(c: Any = container) -> float:
            t0 = cpu_clock()
            discover(c, Runtime)
            return cpu_clock() - t0

        def timed_plan(c: Any = container) -> float:
            orch = Orchestrator(c)
            t0 = cpu_clock()
            orch.plan()
            return cpu_clock() - t0

        d = best(repeat(args.repeat, timed_discover))
        p = best(repeat(args.repeat, timed_plan))
        growth = per10 = "-"
        if previous is not None:
            factor = p / previous[1]
            growth = f"{factor:.1f}x"
            # normalised to a 10x step, so --sizes need not be powers of ten
            per10 = f"{factor ** (1 / math.log10(n / previous[0])):.1f}x"
        table.add(n, edges, d * 1000, p * 1000, p / n * 1e6, growth, per10)
        previous = (n, p)
    table.note("target: <= 12x per 10x services (linear is 10x)")
    table.print()
    print()
    reproduce()


if __name__ == "__main__":
    main()
