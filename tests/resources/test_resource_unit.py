"""ResourceUnit: the start and stop of one ``providers.Resource``, for every
kind of initialiser, against real dependency-injector containers."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
from dependency_injector import containers, providers

from haraka_di._resources import ResourceUnit

from .kinds import ASYNC_KINDS, CLOSING, KINDS, SYNC_KINDS, Conn, closes, make

pytestmark = pytest.mark.timeout(20)


def container_of(provides: Any) -> Any:
    container = containers.DynamicContainer()
    container.res = providers.Resource(provides)
    return container


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


async def loop_ticks_during(start: asyncio.Future[Any]) -> int:
    """How many 10 ms ticks the event loop made while ``start`` ran (a
    blocked loop makes none); ``start`` is awaited (its error raised)."""
    ticks = 0
    while not start.done():
        await asyncio.sleep(0.01)
        ticks += 1
    await start
    return ticks


async def shutdown_resources(container: Any) -> None:
    result = container.shutdown_resources()
    if inspect.isawaitable(result):
        await result


@pytest.mark.parametrize("kind", KINDS)
async def test_start_initialises_and_stop_runs_the_own_shutdown_exactly_once(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal))
    unit = ResourceUnit("res", container.res)
    await unit.start()
    assert journal == ["opening", "open"]
    assert container.res.initialized and unit.started
    assert isinstance(unit.value, Conn) and unit.value.kind == kind
    value = container.res()  # what dependents get: the same, already open
    if inspect.isawaitable(value):
        value = await value
    assert value is unit.value
    await unit.stop()
    assert journal == closes(kind)
    assert not container.res.initialized and not unit.started
    await unit.stop()  # idempotent
    await shutdown_resources(container)  # a harmless no-op afterwards
    assert journal == closes(kind)
    assert not container.res.initialized


@pytest.mark.parametrize("kind", KINDS)
async def test_a_second_run_initialises_again(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal))
    unit = ResourceUnit("res", container.res)
    await unit.start()
    first = unit.value
    await unit.stop()
    again = ResourceUnit("res", container.res)  # a new run, a new unit
    await again.start()
    assert again.value is not first
    await again.stop()
    assert journal == closes(kind) * 2
    await unit.start()  # and a unit can be started again after its stop
    await unit.stop()
    assert journal == closes(kind) * 3
    assert not container.res.initialized


@pytest.mark.parametrize("kind", KINDS)
async def test_start_twice_is_refused(kind: str) -> None:
    container = container_of(make(kind, []))
    unit = ResourceUnit("res", container.res)
    await unit.start()
    with pytest.raises(RuntimeError, match="already started"):
        await unit.start()
    await unit.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_init_that_raises_leaves_nothing_initialised(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal, init_error=OSError("refused")))
    unit = ResourceUnit("res", container.res)
    with pytest.raises(OSError, match="refused"):
        await unit.start()
    assert not container.res.initialized and not unit.started and not unit.pending
    await unit.stop()  # nothing to do
    assert journal == ["opening"]


@pytest.mark.parametrize("kind", CLOSING)
async def test_cleanup_that_raises_runs_once_and_leaves_it_shut_down(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal, close_error=OSError("reset by peer")))
    unit = ResourceUnit("res", container.res)
    await unit.start()
    with pytest.raises(OSError, match="reset by peer"):
        await unit.stop()
    assert not container.res.initialized
    await unit.stop()
    await shutdown_resources(container)
    assert journal == ["opening", "open", "close"]


@pytest.mark.parametrize("kind", SYNC_KINDS)
async def test_a_slow_sync_init_does_not_block_the_loop(kind: str) -> None:
    container = container_of(make(kind, [], init_delay=0.3))
    unit = ResourceUnit("res", container.res)
    assert await loop_ticks_during(unit.start()) >= 10  # the loop kept running
    await unit.stop()


@pytest.mark.parametrize("kind", SYNC_KINDS)
async def test_cancelled_sync_init_closes_what_it_opens_once_it_returns(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal, init_delay=0.3))
    unit = ResourceUnit("res", container.res)
    start = unit.start()
    await asyncio.sleep(0.05)
    begun = time.monotonic()
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    assert time.monotonic() - begun < 0.1  # the cancellation did not wait for the thread
    assert journal == ["opening"] and unit.pending and not unit.started
    await unit.stop()  # waits for the thread: its init returned, then it closed
    assert journal == closes(kind)
    assert not container.res.initialized and not unit.pending
    await unit.start()  # the next run starts afresh
    await unit.stop()
    assert journal == closes(kind) * 2


@pytest.mark.parametrize("kind", SYNC_KINDS)
async def test_cancelled_sync_init_cleans_up_even_if_nobody_stops(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal, init_delay=0.1))
    unit = ResourceUnit("res", container.res)
    start = unit.start()
    await asyncio.sleep(0.02)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    # nobody awaits anything of the unit: the abandoned thread closes by itself
    await asyncio.to_thread(wait_until, lambda: journal == closes(kind))
    assert journal == closes(kind)
    assert not container.res.initialized


@pytest.mark.parametrize("kind", SYNC_KINDS)
async def test_cancelled_sync_init_that_then_fails_leaves_nothing(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal, init_delay=0.1, init_error=OSError("late")))
    unit = ResourceUnit("res", container.res)
    start = unit.start()
    await asyncio.sleep(0.02)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    await unit.stop()  # the init's own failure belongs to no stop
    assert journal == ["opening"]
    assert not container.res.initialized


@pytest.mark.parametrize("kind", ASYNC_KINDS)
async def test_cancelled_async_init_is_cancelled_inside_the_initialiser(kind: str) -> None:
    journal: list[str] = []
    container = container_of(make(kind, journal, init_delay=[30.0]))
    unit = ResourceUnit("res", container.res)
    start = unit.start()
    await asyncio.sleep(0.05)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    await unit.stop()
    assert journal == ["opening"]  # it never opened
    assert not container.res.initialized
    await unit.start()  # dependency-injector was reset: the next run works
    assert journal == ["opening", "opening", "open"]
    await unit.stop()
    assert not container.res.initialized


@pytest.mark.parametrize("kind", ASYNC_KINDS)
async def test_a_cancel_that_comes_after_the_async_init_finished_leaves_it_to_stop(
    kind: str,
) -> None:
    # The init finishes, then (before anyone has seen its result) its future
    # is cancelled: too late, the resource is open. The cancel does nothing,
    # the start counts as a success, and stop() closes it, once.
    journal: list[str] = []
    started: list[asyncio.Future[Any]] = []

    def cancel_once_open() -> None:
        asyncio.get_running_loop().call_soon(started[0].cancel)

    container = container_of(make(kind, journal, on_open=cancel_once_open))
    unit = ResourceUnit("res", container.res)
    started.append(unit.start())
    value = await started[0]
    assert journal[:2] == ["opening", "open"] and unit.started and unit.pending
    assert value is unit.value
    await unit.stop()
    assert journal == closes(kind)
    assert not container.res.initialized and not unit.pending


async def test_a_resource_overridden_by_another_runs_the_override() -> None:
    real: list[str] = []
    fake: list[str] = []
    container = container_of(make("generator", real))
    container.res.override(providers.Resource(make("async-generator", fake)))
    unit = ResourceUnit("res", container.res)
    await unit.start()
    assert container.res().result().kind == "async-generator"  # type: ignore[union-attr]
    await unit.stop()
    assert real == [] and fake == closes("async-generator")
    assert not container.res.initialized and not container.res.last_overriding.initialized


async def test_a_resource_overridden_by_an_object_is_refused() -> None:
    container = container_of(make("generator", []))
    container.res.override(providers.Object("fake"))
    with pytest.raises(TypeError, match="no Resource now"):
        await ResourceUnit("res", container.res).start()


async def test_a_sync_resource_with_an_async_argument_is_initialised_on_the_loop() -> None:
    journal: list[str] = []
    container = containers.DynamicContainer()
    container.pool = providers.Resource(make("async-generator", journal))
    container.client = providers.Resource(make("generator", journal), pool=container.pool)
    pool, client = ResourceUnit("pool", container.pool), ResourceUnit("client", container.client)
    await pool.start()
    await client.start()
    assert container.client.initialized
    await client.stop()
    await pool.stop()
    assert journal == ["opening", "open"] * 2 + ["close"] * 2
    assert not container.client.initialized and not container.pool.initialized


async def test_an_async_argument_overridden_by_a_plain_value_leaves_the_init_in_a_thread() -> None:
    # What is called is the override (a plain value): dependency-injector
    # initialises synchronously, so a slow sync init must not run on the loop.
    async def token() -> str:
        return "async token"

    container = containers.DynamicContainer()
    container.token = providers.Coroutine(token)
    container.res = providers.Resource(make("generator", [], init_delay=0.3), token=container.token)
    container.token.override(providers.Object("plain token"))
    unit = ResourceUnit("res", container.res)
    assert await loop_ticks_during(unit.start()) >= 10  # the loop kept running
    await unit.stop()
    assert not container.res.initialized
