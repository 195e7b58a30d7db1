"""Direct steps: a step that returns a future already under way (a
Resource's initialisation) runs without a task of its own. The run watches
the future, and every outcome is the one a task step would have had."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from haraka_di._scheduler import GraphRun, Outcome

pytestmark = pytest.mark.timeout(20)

Finished = list[tuple[str, Outcome, BaseException | None]]


def make_run(groups: list[list[str]], waits: dict[str, list[str]] | None = None) -> GraphRun:
    return GraphRun(groups, waits or {}, max_concurrency=None, fail_fast=True, cancel_grace=0.5)


async def run_direct(
    run: GraphRun,
    step: Callable[[str], Awaitable[Any]],
    timeout: float | None = None,
    direct: set[str] | None = None,
) -> tuple[dict[str, Any], Finished]:
    finished: Finished = []
    names = direct if direct is not None else set(run._frontier.rank)

    def start_direct(batch: Sequence[str]) -> list[Any]:
        started: list[Any] = []
        for name in batch:
            try:
                started.append(step(name))
            except BaseException as exc:
                started.append(exc)
        return started

    outcomes = await run.run(
        step,
        lambda name: timeout,
        lambda n, o, e: finished.append((n, o, e)),
        names,
        start_direct,
    )
    return outcomes, finished


async def test_direct_futures_are_no_tasks_and_finish_in_dependency_order() -> None:
    order: list[str] = []
    tasks_before = len(asyncio.all_tasks())

    def step(name: str) -> asyncio.Future[None]:
        order.append(name)
        # no task: the run makes none of its own for a direct step
        assert len(asyncio.all_tasks()) == tasks_before
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    run = make_run([["a", "b", "c"]], {"c": ["a", "b"]})
    outcomes, finished = await run_direct(run, step, timeout=5.0)
    assert order == ["a", "b", "c"]
    assert outcomes == {n: (Outcome.DONE, None) for n in "abc"}
    assert [n for n, _, _ in finished] == ["a", "b", "c"]
    assert not run._deadlines.armed and not run._deadlines and not run._watch


async def test_a_direct_future_that_waits_reports_through_its_callback() -> None:
    loop = asyncio.get_running_loop()
    later: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.05, later.set_result, None)
    outcomes, _ = await run_direct(make_run([["slow"]]), lambda name: later)
    assert outcomes == {"slow": (Outcome.DONE, None)}


async def test_a_direct_future_that_fails_fails_the_run() -> None:
    async def init() -> None:
        raise OSError("refused")

    run = make_run([["db", "api"]], {"api": ["db"]})
    outcomes, _ = await run_direct(run, lambda name: asyncio.ensure_future(init()))
    outcome, error = outcomes["db"]
    assert outcome is Outcome.FAILED and isinstance(error, OSError)
    assert "api" not in outcomes  # nothing after it launched


async def test_a_direct_step_that_raises_at_once_is_its_failure() -> None:
    def step(name: str) -> asyncio.Future[None]:
        raise KeyboardInterrupt  # (a sync part that blows up: reported, not raised)

    outcomes, _ = await run_direct(make_run([["db"]]), step)
    outcome, error = outcomes["db"]
    assert outcome is Outcome.FAILED and isinstance(error, KeyboardInterrupt)


async def test_a_direct_future_past_its_timeout_is_cancelled_and_timed_out() -> None:
    cancelled = asyncio.Event()

    async def init() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    outcomes, _ = await run_direct(
        make_run([["slow"]]), lambda name: asyncio.ensure_future(init()), timeout=0.05
    )
    assert outcomes["slow"][0] is Outcome.TIMED_OUT
    assert cancelled.is_set()  # inside the initialiser, at its await


async def test_an_abort_cancels_direct_futures_after_their_first_step() -> None:
    # "a" fails at once; "b", launched in the same drain, is cancelled by the
    # abort only after its coroutine began (so its own cleanup runs).
    began: list[str] = []

    async def init(name: str) -> None:
        began.append(name)
        if name == "a":
            raise OSError("a failed")
        await asyncio.Event().wait()

    outcomes, _ = await run_direct(
        make_run([["a", "b"]]), lambda name: asyncio.ensure_future(init(name))
    )
    assert began == ["a", "b"]
    assert outcomes["a"][0] is Outcome.FAILED and outcomes["b"][0] is Outcome.CANCELLED


async def test_a_cancel_after_the_future_finished_counts_as_done() -> None:
    # Finished in its first step; aborted before the run saw it: the cancel
    # finds it done, so it started (and the caller's rollback stops it).
    loop = asyncio.get_running_loop()
    run = make_run([["a", "b"]])

    def step(name: str) -> asyncio.Future[None]:
        done: asyncio.Future[None] = loop.create_future()
        done.set_result(None)
        if name == "b":
            run.abort()
        return done

    outcomes, _ = await run_direct(run, step)
    assert outcomes == {"a": (Outcome.DONE, None), "b": (Outcome.DONE, None)}


async def test_direct_steps_ready_together_start_in_one_batch() -> None:
    batches: list[list[str]] = []
    loop = asyncio.get_running_loop()

    def start_direct(names: Sequence[str]) -> list[Any]:
        batches.append(list(names))
        started: list[Any] = []
        for _ in names:
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            started.append(done)
        return started

    run = make_run([["a", "b", "c", "d"]], {"d": ["a", "b", "c"]})
    outcomes = await run.run(
        lambda name: asyncio.sleep(0),
        lambda name: None,
        lambda n, o, e: None,
        set("abcd"),
        start_direct,
    )
    assert batches == [["a", "b", "c"], ["d"]]
    assert outcomes == {n: (Outcome.DONE, None) for n in "abcd"}


async def test_direct_steps_need_a_batch_starter() -> None:
    with pytest.raises(TypeError, match="start_direct"):
        await make_run([["a"]]).run(lambda name: asyncio.sleep(0), lambda n: None, print, {"a"})


async def test_direct_and_task_steps_mix() -> None:
    loop = asyncio.get_running_loop()
    seen: list[str] = []

    def step(name: str) -> Any:
        seen.append(name)
        if name == "res":
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        return asyncio.sleep(0)

    run = make_run([["res", "svc"]], {"svc": ["res"]})
    outcomes, _ = await run_direct(run, step, direct={"res"})
    assert seen == ["res", "svc"]
    assert outcomes == {"res": (Outcome.DONE, None), "svc": (Outcome.DONE, None)}
