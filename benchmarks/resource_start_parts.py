"""Where the start of N independent async-generator Resources goes.

The start target of issue 13 (no slower than ``init_resources()``) compares
two totals; this script takes haraka_di's apart, phase by phase, next to
the parts of ``init_resources()`` itself, in the same run:

- ``init_resources()``, whole, and its two parts: dependency-injector's own
  work (``provider.init()`` for each resource, then one loop iteration in
  which its init tasks run), and the rest (its provider traversal and its
  ``gather``);
- haraka_di's ``await orch.run()``, whole, and its phases: discovery
  (``_graph.discover``), the registry (plan, one record and one unit per
  node) and the start run (``Lifecycle.start``: dependency-injector's init
  and its tasks, plus haraka_di's scheduling, states and timeouts);
- the start run once more with every init replaced by a future that is
  already done: haraka_di's own share of the run, without
  dependency-injector.

CPU microseconds per resource, each the best of ``--repeat`` rounds, the
contenders interleaved round by round. ``--no-gc`` switches the cyclic
garbage collector off, to see how much of the difference it makes.

    python benchmarks/resource_start_parts.py
    python benchmarks/resource_start_parts.py --no-gc
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any

from _common import Table, best, cpu_clock, header, repeat, reproduce
from bench_resources import make_container

from haraka_di import Orchestrator, Runtime
from haraka_di._graph import discover

Parts = dict[str, float]


class _Done:
    """A Resource node whose start is a future already done: the run's own
    work, without dependency-injector's."""

    kind = "Resource"
    building = False
    direct = True
    pending = False

    def __init__(self, done: asyncio.Future[None]) -> None:
        self._done = done

    def start(self) -> asyncio.Future[None]:
        return self._done

    async def stop(self) -> None:
        return None


async def dependency_injector(n: int) -> Parts:
    from dependency_injector import providers

    container = make_container(n, chained=False)
    t0 = cpu_clock()
    await container.init_resources()
    whole = cpu_clock() - t0
    await container.shutdown_resources()
    resources = list(container.traverse(types=[providers.Resource]))
    loop = asyncio.get_running_loop()
    t0 = cpu_clock()
    inits = [provider.init() for provider in resources]
    swept: asyncio.Future[None] = loop.create_future()
    loop.call_soon(swept.set_result, None)  # after every init task's first step
    await swept
    own = cpu_clock() - t0
    if not all(init.done() for init in inits):
        raise RuntimeError("an init did not finish in its first step")
    for provider in resources:
        await provider.shutdown()
    return {"whole": whole, "own": own}


async def haraka(n: int, fake: bool = False) -> Parts:
    container = make_container(n, chained=False)
    orch = Orchestrator(container, handle_signals=False)
    if not fake:
        t0 = cpu_clock()
        await orch.run()
        whole = cpu_clock() - t0
        await orch.shutdown()
        container = make_container(n, chained=False)
        orch = Orchestrator(container, handle_signals=False)
    t0 = cpu_clock()
    graph = discover(container, Runtime)
    t1 = cpu_clock()
    defaults = {"start_timeout": orch.start_timeout, "stop_timeout": orch.stop_timeout}
    plan, records = orch._registry.collect(graph, defaults, orch._make_unit)
    t2 = cpu_clock()
    if fake:
        loop = asyncio.get_running_loop()
        for record in records.values():
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            record.unit = _Done(done)
    orch._plan = plan
    t3 = cpu_clock()
    await orch._lifecycle.start(plan, records)
    t4 = cpu_clock()
    if fake:
        return {"run": t4 - t3}
    await orch.shutdown()
    return {"whole": whole, "discovery": t1 - t0, "registry": t2 - t1, "run": t4 - t3}


def measure(n: int, rounds: int) -> dict[str, Parts]:
    contenders: dict[str, Callable[[], Coroutine[Any, Any, Parts]]] = {
        "di": lambda: dependency_injector(n),
        "haraka": lambda: haraka(n),
        "fake": lambda: haraka(n, fake=True),
    }
    samples: dict[str, list[Parts]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, make in contenders.items():
            samples[name] += repeat(1, lambda make=make: asyncio.run(make()))
    return {
        name: {part: best([s[part] for s in runs]) for part in runs[0]}
        for name, runs in samples.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=9, help="rounds (best is kept)")
    parser.add_argument(
        "--no-gc", action="store_true", help="switch the cyclic garbage collector off"
    )
    args = parser.parse_args(argv)
    if args.no_gc:  # (a full collection still runs before each round)
        gc.disable()
    header("resource start, part by part: haraka_di run() against init_resources()")
    n = args.resources
    got = measure(n, args.repeat)
    di, ours, fake = got["di"], got["haraka"], got["fake"]

    def us(seconds: float) -> float:
        return seconds / n * 1e6

    table = Table(
        f"N = {n:,} independent resources (CPU microseconds per resource, best of "
        f"{args.repeat} rounds)",
        ["part", "us per resource", "share of init_resources()"],
    )
    table.add("init_resources(), whole", us(di["whole"]), "1.00")
    table.add("  dependency-injector's own: provider.init(), its tasks", us(di["own"]), "")
    table.add("  the rest: traversal, gather", us(di["whole"] - di["own"]), "")
    table.add("haraka_di run(), whole", us(ours["whole"]), f"{ours['whole'] / di['whole']:.2f}")
    table.add("  discovery", us(ours["discovery"]), "")
    table.add("  registry: plan, records, units", us(ours["registry"]), "")
    table.add("  the start run", us(ours["run"]), "")
    table.add("    the start run with every init already done", us(fake["run"]), "")
    table.add(
        "    the rest: dependency-injector's init, its tasks",
        us(ours["run"] - fake["run"]),
        "",
    )
    table.note("phases are timed in separate runs, so they need not add up to 'whole' exactly")
    if args.no_gc:
        table.note("the cyclic garbage collector was off (--no-gc)")
    table.note(
        "haraka_di's own share = whole - dependency-injector's own; no slower than "
        "init_resources() needs it <= init_resources()'s rest"
    )
    table.print()
    print()
    own_share = us(ours["whole"] - di["own"])
    print(
        f"haraka_di's own work: {own_share:.1f} us per resource; "
        f"init_resources()'s own work: {us(di['whole'] - di['own']):.1f} us"
    )
    print()
    reproduce()


if __name__ == "__main__":
    main()
