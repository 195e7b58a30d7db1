"""The engine's fast paths behave exactly like the slow ones they replace:
one shared timer per run (not one per step), steps that report their own
end and launch their successors, eager step tasks on Python 3.12+, and the
no-heap planning path for forward-declared graphs."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haraka_di import Orchestrator, Service, ServiceState, StartupError
from haraka_di._plan import Node, make_plan
from haraka_di._scheduler import GraphRun, Outcome


class Hangs(Service):
    async def startup(self) -> None:
        await asyncio.Event().wait()


class Quick(Service):
    async def startup(self) -> None:
        await asyncio.sleep(0)


async def test_a_shorter_timeout_launched_later_still_fires_on_time() -> None:
    # The run's one timer is armed for the first deadline (30 s); the later,
    # shorter one (0.05 s) must re-arm it.
    orch = Orchestrator(handle_signals=False, cancel_grace=0.5)
    slow, short = Hangs(), Hangs()
    slow.name, short.name = "slow", "short"
    orch.use(slow, start_timeout=30)
    orch.use(short, start_timeout=0.05)
    began = time.monotonic()
    with pytest.raises(StartupError, match=r"'short'.*did not start within 0\.05s"):
        await orch.run()
    assert time.monotonic() - began < 10
    states = {r.name: r.state for r in orch.report()}
    assert states == {"slow": ServiceState.STOPPED, "short": ServiceState.FAILED}


async def test_finished_steps_leave_no_timer_behind() -> None:
    run = GraphRun([["a", "b"]], {}, max_concurrency=None, fail_fast=True, cancel_grace=1.0)
    finished: list[tuple[str, Outcome]] = []

    async def step(name: str) -> None:
        await asyncio.sleep(0)

    outcomes = await run.run(step, lambda name: 0.2, lambda n, o, e: finished.append((n, o)))
    assert outcomes == {"a": (Outcome.DONE, None), "b": (Outcome.DONE, None)}
    assert not run._deadlines.armed and not run._deadlines
    await asyncio.sleep(0.3)  # past the 0.2 s deadlines: nothing expires late
    assert finished == [("a", Outcome.DONE), ("b", Outcome.DONE)]


async def test_each_step_runs_in_its_own_real_task() -> None:
    # Eager tasks (3.12+) and lazy ones (3.11) alike: inside startup() the
    # current task is the step's own, so asyncio.timeout() and task groups work.
    seen: dict[str, asyncio.Task[object] | None] = {}

    class Probe(Service):
        async def startup(self) -> None:
            seen[self.name] = asyncio.current_task()
            async with asyncio.timeout(5), asyncio.TaskGroup() as group:
                group.create_task(asyncio.sleep(0))

    orch = Orchestrator(handle_signals=False)
    for name in ("one", "two"):
        probe = Probe()
        probe.name = name
        orch.use(probe)
    async with orch.running():
        assert orch.is_ready()
    mine = asyncio.current_task()
    assert {n: t.get_name() for n, t in seen.items() if t} == {
        "one": "haraka:one",
        "two": "haraka:two",
    }
    assert all(task is not mine for task in seen.values())


async def test_a_chain_costs_one_loop_iteration_per_link() -> None:
    # A finished step launches its successor itself, from inside its task:
    # no done-callback round trip, no wake-up of the run in between.
    orch = Orchestrator(handle_signals=False)
    previous: list[str] = []
    for i in range(50):
        svc = Quick()
        svc.name = f"s{i}"
        orch.use(svc, dependencies=previous)
        previous = [svc.name]
    iterations = 0
    counting = True

    async def count() -> None:
        nonlocal iterations
        while counting:
            iterations += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count())
    await orch.run()
    counting = False
    await counter
    # Each link: one iteration to run startup() up to its sleep(0), one to
    # finish it. The old callback-and-wake-up path took four.
    assert iterations <= 2 * 50 + 10
    await orch.shutdown()


@pytest.mark.parametrize("timeout", [0.2, None])
async def test_a_step_cancelled_from_outside_before_it_ran_fails_instead_of_hanging(
    timeout: float | None,
) -> None:
    # Such a task never runs its coroutine, so it cannot report itself: its
    # deadline finds it done, or, with no timeout, its done-callback.
    run = GraphRun([["a"]], {}, max_concurrency=None, fail_fast=True, cancel_grace=1.0)

    async def step(name: str) -> None:
        await asyncio.sleep(0)

    finished: list[tuple[str, Outcome, BaseException | None]] = []
    runner = asyncio.create_task(
        run.run(step, lambda name: timeout, lambda n, o, e: finished.append((n, o, e)))
    )
    await asyncio.sleep(0)  # the run has launched "a"; on 3.11 it has not begun yet
    (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "haraka:a"]
    task.cancel()
    outcomes = await asyncio.wait_for(runner, 5)
    outcome, error = outcomes["a"]
    assert outcome is Outcome.FAILED
    assert "CancelledError haraka_di never asked for" in str(error)
    assert [n for n, _, _ in finished] == ["a"]


async def test_synchronous_steps_keep_strict_sequence_with_max_concurrency_one() -> None:
    events: list[str] = []
    orch = Orchestrator(handle_signals=False, max_concurrency=1)
    for name in ("a", "b", "c"):
        svc = Service()
        svc.name = name
        orch.use(svc)
    orch.subscribe(lambda e: events.append(f"{e.service} {e.state.name}") if e.service else None)
    async with orch.running():
        pass
    starts = [e for e in events if e.endswith(("STARTING", "READY"))]
    assert starts == ["a STARTING", "a READY", "b STARTING", "b READY", "c STARTING", "c READY"]


async def test_a_custom_task_factory_is_respected() -> None:
    # (Python 3.12+ would otherwise create eager tasks itself.)
    loop = asyncio.get_running_loop()
    made: list[asyncio.Task[object]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> object:
        task = asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]
        made.append(task)
        return task

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        orch = Orchestrator(handle_signals=False)
        svc = Quick()
        svc.name = "q"
        orch.use(svc)
        async with orch.running():
            pass
    finally:
        loop.set_task_factory(None)
    assert "haraka:q" in [task.get_name() for task in made]  # named after creation


def _reference_order(nodes: list[Node]) -> list[str]:
    """The ordering rules, applied naively (quadratic, obviously right)."""
    deps = {n.name: set(n.dependencies) for n in nodes}
    effective = {n.name: n.priority for n in nodes}
    changed = True
    while changed:
        changed = False
        for n in nodes:
            for d in deps[n.name]:
                if effective[d] < effective[n.name]:
                    effective[d], changed = effective[n.name], True
    placed: list[str] = []
    remaining = [n.name for n in nodes]
    while remaining:
        level = max(effective[r] for r in remaining)
        pick = next(r for r in remaining if effective[r] == level and deps[r] <= set(placed))
        placed.append(pick)
        remaining.remove(pick)
    return placed


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[Node], bool]:
    size = draw(st.integers(1, 12))
    nodes = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3)) if i else []
        prio = draw(st.sampled_from([0, 0, 0, 1, 5, -3]))
        nodes.append(Node(f"s{i}", prio, tuple(f"s{j}" for j in deps)))
    shuffled = draw(st.booleans())
    if shuffled:  # registration order no longer a dependency order
        nodes = draw(st.permutations(nodes))
    return nodes, shuffled


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_the_plan_follows_the_rules_on_both_paths(case: tuple[list[Node], bool]) -> None:
    nodes, _ = case
    plan = make_plan(nodes)
    assert list(plan.order) == _reference_order(nodes)
    for name in plan.order:  # waves: after every dependency of the same level
        for dep in plan.dependencies[name]:
            if plan.effective_priority[dep] == plan.effective_priority[name]:
                assert plan.wave[dep] < plan.wave[name]
