"""Property-based ordering tests (Hypothesis, derandomized and small).

Random DAGs with random priorities, start/stop durations (counted in event
loop turns, so examples are fast and deterministic) and any
``max_concurrency``; random injected failures; random graphs with a cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haraka_di import (
    CircularDependencyError,
    Orchestrator,
    Service,
    ShutdownError,
    StartupError,
)

SETTINGS = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Graph:
    names: list[str]  # registration order
    deps: dict[str, list[str]]
    priority: dict[str, int]
    start_turns: dict[str, int]
    stop_turns: dict[str, int]
    concurrency: int | None
    fail_start: set[str] = field(default_factory=set)
    fail_stop: set[str] = field(default_factory=set)
    hang_start: set[str] = field(default_factory=set)  # until their start timeout
    hang_stop: set[str] = field(default_factory=set)  # until their stop timeout


@st.composite
def graphs(draw: st.DrawFn, *, failures: bool = False, hangs: bool = False) -> Graph:
    n = draw(st.integers(1, 9))
    topo = [f"s{i}" for i in range(n)]  # dependencies only point backwards here
    deps = {
        name: draw(st.lists(st.sampled_from(topo[:i]), unique=True, max_size=3)) if i else []
        for i, name in enumerate(topo)
    }
    names = draw(st.permutations(topo))  # registration order is not topological
    turns = st.integers(0, 3)
    graph = Graph(
        names=list(names),
        deps=deps,
        priority={s: draw(st.integers(-2, 2)) for s in topo},
        start_turns={s: draw(turns) for s in topo},
        stop_turns={s: draw(turns) for s in topo},
        concurrency=draw(st.sampled_from([None, 1, 2, 3])),
    )
    if failures:
        graph.fail_start = set(draw(st.lists(st.sampled_from(topo), unique=True, max_size=3)))
        graph.fail_stop = set(draw(st.lists(st.sampled_from(topo), unique=True, max_size=2)))
    if hangs:
        graph.hang_start = set(draw(st.lists(st.sampled_from(topo), unique=True, max_size=2)))
        graph.hang_stop = set(draw(st.lists(st.sampled_from(topo), unique=True, max_size=2)))
    return graph


class Trace:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.inflight = 0
        self.peak = 0

    def at(self, kind: str, name: str) -> int:
        return self.events.index((kind, name))

    def names(self, kind: str) -> list[str]:
        return [n for k, n in self.events if k == kind]


class Node(Service):
    def __init__(self, name: str, graph: Graph, trace: Trace) -> None:
        super().__init__()
        self.name = name
        self.graph = graph
        self.trace = trace

    async def _step(self, phase: str, turns: int, fail: bool, hang: bool) -> None:
        trace = self.trace
        trace.events.append((f"{phase}-begin", self.name))
        trace.inflight += 1
        trace.peak = max(trace.peak, trace.inflight)
        try:
            for _ in range(turns):
                await asyncio.sleep(0)
            if hang:
                trace.events.append((f"{phase}-hang", self.name))
                await asyncio.Event().wait()
            if fail:
                trace.events.append((f"{phase}-raise", self.name))
                raise RuntimeError(f"{phase} of {self.name} failed")
            trace.events.append((f"{phase}-end", self.name))
        finally:
            trace.inflight -= 1
            trace.events.append((f"{phase}-done", self.name))

    async def startup(self) -> None:
        g = self.graph
        name = self.name
        await self._step("start", g.start_turns[name], name in g.fail_start, name in g.hang_start)

    async def shutdown(self) -> None:
        g = self.graph
        name = self.name
        await self._step("stop", g.stop_turns[name], name in g.fail_stop, name in g.hang_stop)


def effective(graph: Graph) -> dict[str, int]:
    """Reference: own priority raised to that of every (transitive) dependent."""
    eff = dict(graph.priority)
    changed = True
    while changed:
        changed = False
        for name, deps in graph.deps.items():
            for dep in deps:
                if eff[dep] < eff[name]:
                    eff[dep] = eff[name]
                    changed = True
    return eff


def orchestrate(graph: Graph) -> tuple[Trace, Orchestrator, BaseException | None]:
    trace = Trace()
    orch = Orchestrator(max_concurrency=graph.concurrency, handle_signals=False)
    for name in graph.names:
        node = Node(name, graph, trace)
        orch.use(
            node,
            priority=graph.priority[name],
            dependencies=graph.deps[name],
            start_timeout=0.005 if name in graph.hang_start else None,
            stop_timeout=0.005 if name in graph.hang_stop else None,
        )

    async def main() -> BaseException | None:
        try:
            await orch.run()
        except StartupError as exc:
            return exc
        try:
            await orch.shutdown()
        except ShutdownError as exc:
            return exc
        return None

    error = asyncio.run(main())
    return trace, orch, error


def check_order(graph: Graph, trace: Trace, started: set[str]) -> None:
    eff = effective(graph)
    for name in started:
        for dep in graph.deps[name]:
            # every dependency starts before its dependents and stops after
            assert trace.at("start-done", dep) < trace.at("start-begin", name)
            assert trace.at("stop-done", name) < trace.at("stop-begin", dep)
    for a in started:
        for b in started:
            if eff[a] > eff[b]:
                # a higher effective priority never starts after a lower one,
                # and (the mirror) never stops before it
                assert trace.at("start-done", a) < trace.at("start-begin", b)
                assert trace.at("stop-done", b) < trace.at("stop-begin", a)
    if graph.concurrency is not None:
        assert trace.peak <= graph.concurrency


@SETTINGS
@given(graphs())
def test_random_dags_start_in_dependency_and_priority_order(graph: Graph) -> None:
    trace, orch, error = orchestrate(graph)
    assert error is None
    plan = orch.plan()
    assert dict(plan.effective_priority) == effective(graph)
    starts, stops = trace.names("start-begin"), trace.names("stop-begin")
    assert sorted(starts) == sorted(graph.names)  # each exactly once
    assert sorted(stops) == sorted(graph.names)
    check_order(graph, trace, set(graph.names))
    if graph.concurrency == 1:  # sequential: the plan's order, and stop is its mirror
        assert starts == list(plan.order)
        assert stops == starts[::-1]


@SETTINGS
@given(graphs(failures=True))
def test_under_random_failures_exactly_what_started_is_stopped_once(graph: Graph) -> None:
    trace, orch, error = orchestrate(graph)
    started = set(trace.names("start-end"))
    raised = set(trace.names("start-raise"))
    stops = trace.names("stop-begin")
    assert len(trace.names("start-begin")) == len(set(trace.names("start-begin")))
    assert sorted(stops) == sorted(started)  # every started one once, nothing else
    check_order(graph, trace, started)
    if graph.concurrency == 1:  # sequential: stop is the exact mirror of start
        assert stops == [n for n in trace.names("start-end") if n in started][::-1]
    if raised:
        assert isinstance(error, StartupError)
        assert set(error.failures) == raised
        assert str(error).startswith("Startup failed: ")
        assert f"Stopped the {len(started)} service(s) that had started" in str(error)
        assert orch.exit_code == 1
    else:
        assert started == set(graph.names)
        stop_failed = graph.fail_stop & started
        if stop_failed:
            assert isinstance(error, ShutdownError)
            assert set(error.failures) == stop_failed
        else:
            assert error is None


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> tuple[list[str], dict[str, list[str]]]:
    n = draw(st.integers(1, 8))
    names = [f"s{i}" for i in range(n)]
    deps: dict[str, list[str]] = {
        name: draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) for name in names
    }
    cycle = draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=n))
    for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        if b not in deps[a]:
            deps[a].append(b)
    return draw(st.permutations(names)), deps


@SETTINGS
@given(cyclic_graphs())
def test_random_graphs_with_a_cycle_name_a_real_cycle(
    graph: tuple[list[str], dict[str, list[str]]],
) -> None:
    names, deps = graph
    orch = Orchestrator(handle_signals=False)
    for name in names:
        orch.use(Node(name, Graph([], {}, {}, {}, {}, None), Trace()), dependencies=deps[name])
    try:
        orch.plan()
    except CircularDependencyError as exc:
        cycle = list(exc.cycle)
        path = " -> ".join([*cycle, cycle[0]])
        assert str(exc).startswith(f"Circular dependency detected at {cycle[0]}: {path}.")
        assert len(set(cycle)) == len(cycle)
        for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            assert b in deps[a]  # a really depends on b
    else:
        raise AssertionError("a graph with a cycle was planned")
    # run() refuses it the same way, before anything starts
    try:
        asyncio.run(orch.run())
    except CircularDependencyError as exc:
        assert list(exc.cycle) == cycle
    else:
        raise AssertionError("run() accepted a cycle")
    assert orch.state.name == "CREATED"


@settings(SETTINGS, max_examples=60)
@given(graphs(failures=True, hangs=True))
def test_start_and_stop_timeouts_roll_back_and_still_stop_dependencies(graph: Graph) -> None:
    trace, orch, error = orchestrate(graph)
    started = set(trace.names("start-end"))
    raised = set(trace.names("start-raise"))
    hung = set(trace.names("start-hang"))
    assert orch.state.name == "DESTROYED"
    assert sorted(trace.names("stop-begin")) == sorted(started)
    check_order(graph, trace, started)
    if raised or hung:
        assert isinstance(error, StartupError)
        assert raised <= set(error.failures) <= raised | hung
        for name in set(error.failures) - raised:  # cut short by its start timeout
            assert isinstance(error.failures[name], TimeoutError)
            assert str(error.failures[name]) == f"service {name!r} did not start within 0.005s"
    else:
        assert started == set(graph.names)
        stop_failed = (graph.fail_stop | graph.hang_stop) & started
        assert isinstance(error, ShutdownError) if stop_failed else error is None
        if isinstance(error, ShutdownError):
            assert set(error.failures) == stop_failed
            for name in graph.hang_stop & started:
                assert isinstance(error.failures[name], TimeoutError)


@dataclass
class Chaos:
    graph: Graph
    signals: list[tuple[int, signal.Signals]]  # (after that many step events, signal)
    drain: float


@st.composite
def chaos(draw: st.DrawFn) -> Chaos:
    graph = draw(graphs())
    events = 4 * len(graph.names)  # begin/end of every start and stop
    sig = st.sampled_from([signal.SIGINT, signal.SIGTERM])
    signals = draw(st.lists(st.tuples(st.integers(1, events), sig), max_size=3))
    return Chaos(graph, signals, draw(st.sampled_from([0.0, 0.001])))


@settings(SETTINGS, max_examples=100)
@given(chaos())
def test_real_signals_at_random_moments_stop_exactly_what_started(case: Chaos) -> None:
    graph = case.graph
    trace = Trace()
    orch = Orchestrator(max_concurrency=graph.concurrency, drain_seconds=case.drain)

    class Signalling(Node):
        async def _step(self, phase: str, turns: int, fail: bool, hang: bool) -> None:
            for at, sig in case.signals:
                if len(trace.events) == at:
                    os.kill(os.getpid(), sig)  # handled by the orchestrator's handler
            await super()._step(phase, turns, fail, hang)

    nodes = {}
    for name in graph.names:
        nodes[name] = Signalling(name, graph, trace)
        orch.use(nodes[name], priority=graph.priority[name], dependencies=graph.deps[name])

    async def main() -> set[asyncio.Task[object]]:
        try:
            await orch.run()
        except StartupError:
            pass
        else:
            with contextlib.suppress(TimeoutError):  # a signal may come, or not
                await asyncio.wait_for(orch.wait_for_shutdown(), 0.001)
            with contextlib.suppress(ShutdownError):  # a forced stop cuts steps short
                await orch.shutdown()
        await asyncio.sleep(0)
        me = asyncio.current_task()
        return {t for t in asyncio.all_tasks() if t is not me and not t.done()}

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    left = asyncio.run(main())
    assert {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} == before
    assert left == set()
    assert orch.state.name == "DESTROYED"
    started = set(trace.names("start-end"))
    assert sorted(trace.names("start-begin")) == sorted(set(trace.names("start-begin")))
    # every service that started had shutdown() called exactly once (even
    # when a second signal forced the stop), and no other service did
    assert sorted(trace.names("stop-begin")) == sorted(started)
    assert orch.exit_code in {0, 1} | {128 + s for _, s in case.signals}
