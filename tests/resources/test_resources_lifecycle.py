"""Resource nodes under the orchestrator, through the public API only:
order against services both ways, cleanup exactly once, dependency-injector's
state afterwards, failures, overrides, Services supplied through Dependency
and inline List/Dict/Selector, SIGTERM in a real process, and FastAPI's
``@inject`` shape under ``lifespan(container)``."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import containers, providers
from dependency_injector.wiring import Provide, inject
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from haraka_di import Orchestrator, Service, ServiceState, ShutdownError, StartupError
from haraka_di.fastapi import lifespan
from haraka_di.testing import run_services
from tests import childproc

from .kinds import CLOSING, KINDS, Conn, closes, make

pytestmark = [
    pytest.mark.timeout(60),
]


class Journal(list[str]):
    """A list a container's deep copy shares instead of copying (declarative
    containers deep-copy their providers' arguments per instance)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Journal:
        return self


class Svc(Service):
    """Journals its start and stop; checks that what it received is open."""

    def __init__(self, journal: list[str], tag: str, **deps: Any) -> None:
        super().__init__()
        self.journal, self.tag, self.deps = journal, tag, deps

    async def startup(self) -> None:
        for dep in self.deps.values():
            got = dep.conn if isinstance(dep, Client) else dep
            if isinstance(got, Conn):
                assert not got.closed, f"{self.tag} got a closed {got.kind}"
        self.journal.append(f"{self.tag}:start")

    async def shutdown(self) -> None:
        self.journal.append(f"{self.tag}:stop")


class Client:
    """A plain class wired by Factory: no node, the edge passes through it."""

    def __init__(self, pool: Conn) -> None:
        self.conn = pool


def before(journal: list[str], first: str, then: str) -> bool:
    return journal.index(first) < journal.index(then)


async def shutdown_resources(container: Any) -> None:
    result = container.shutdown_resources()
    if inspect.isawaitable(result):
        await result


def states(orch: Orchestrator) -> dict[str, ServiceState]:
    return {r.name: r.state for r in orch.report()}


# -- order, exactly once, state afterwards ------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_service_receiving_a_resource_starts_after_it_and_stops_before_it(
    kind: str,
) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        pool = providers.Resource(make(kind, journal, tag="pool"))
        api = providers.Singleton(Svc, journal, "api", pool=pool)
        client = providers.Factory(Client, pool=pool)
        worker = providers.Singleton(Svc, journal, "worker", client=client)

    container = C()
    orch = Orchestrator(container, handle_signals=False)
    assert orch.plan().dependencies["api"] == ("pool",)
    assert orch.plan().dependencies["worker"] == ("pool",)  # through the Factory
    await orch.run()
    assert container.pool.initialized
    assert before(journal, "pool:open", "api:start")
    assert before(journal, "pool:open", "worker:start")
    assert states(orch)["pool"] is ServiceState.READY  # ready once initialised
    await orch.shutdown()
    if kind in CLOSING:
        assert before(journal, "api:stop", "pool:close")
        assert before(journal, "worker:stop", "pool:close")
    assert [e for e in journal if e.startswith("pool:")] == closes(kind, "pool")
    assert not container.pool.initialized
    assert states(orch)["pool"] is ServiceState.STOPPED
    await shutdown_resources(container)  # a harmless no-op afterwards
    assert [e for e in journal if e.startswith("pool:")] == closes(kind, "pool")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_resource_receiving_a_service_starts_after_it_and_stops_before_it(
    kind: str,
) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        svc = providers.Singleton(Svc, journal, "svc")
        res = providers.Resource(make(kind, journal, tag="res"), svc=svc)

    container = C()
    async with Orchestrator(container, handle_signals=False).running() as orch:
        assert orch.plan().dependencies["res"] == ("svc",)
        assert before(journal, "svc:start", "res:opening")
    if kind in CLOSING:
        assert before(journal, "res:close", "svc:stop")
    assert not container.res.initialized


@pytest.mark.parametrize("kind", KINDS)
async def test_a_resource_nothing_uses_still_starts_and_closes(kind: str) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        unused = providers.Resource(make(kind, journal))

    container = C()
    async with Orchestrator(container, handle_signals=False).running():
        assert container.unused.initialized
        assert journal == ["opening", "open"]
    assert journal == closes(kind)
    assert not container.unused.initialized


@pytest.mark.parametrize("kind", KINDS)
async def test_a_second_run_of_the_same_container_initialises_again(kind: str) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        pool = providers.Resource(make(kind, journal))
        api = providers.Singleton(Svc, [], "api", pool=pool)
        # a plain Singleton holding the pool: reset, so run 2 gets run 2's pool
        client = providers.Singleton(Client, pool=pool)
        worker = providers.Singleton(Svc, [], "worker", client=client)

    container = C()
    seen = []
    for _ in range(2):
        async with Orchestrator(container, handle_signals=False).running() as orch:
            seen.append(orch.services["api"].deps["pool"])  # type: ignore[attr-defined]
        assert not container.pool.initialized
    assert journal == closes(kind) * 2
    assert seen[0] is not seen[1]


@pytest.mark.parametrize("kind", KINDS)
async def test_resources_under_run_services_are_closed_after_the_block(kind: str) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        pool = providers.Resource(make(kind, journal))

    container = C()
    async with run_services(container) as orch:
        assert container.pool.initialized
        assert "pool" in states(orch)
    assert journal == closes(kind)
    assert not container.pool.initialized


# -- failures -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_an_init_that_raises_rolls_back_what_started_and_is_named(kind: str) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        db = providers.Resource(make("generator", journal, tag="db"))
        cache = providers.Singleton(Svc, journal, "cache", db=db)
        bad = providers.Resource(
            make(kind, journal, tag="bad", init_error=OSError("refused")), cache=cache
        )

    container = C()
    orch = Orchestrator(container, handle_signals=False)
    with pytest.raises(StartupError, match="bad") as caught:
        await orch.run()
    assert caught.value.services == ("bad",)
    # the count says what kind of node started (a Resource and a service)
    assert str(caught.value).endswith(
        ". Stopped the 2 node(s) (1 service(s), 1 resource(s)) that had started."
    )
    assert isinstance(caught.value.failures["bad"], OSError)
    # exactly what started was undone, in reverse
    assert journal[-2:] == ["cache:stop", "db:close"]
    assert journal.count("db:close") == 1 and "bad:open" not in journal
    assert not container.db.initialized and not container.bad.initialized


@pytest.mark.parametrize("kind", CLOSING)
async def test_a_cleanup_that_raises_is_reported_and_the_others_still_close(kind: str) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        a = providers.Resource(make("async-generator", journal, tag="a"))
        b = providers.Resource(make(kind, journal, tag="b", close_error=OSError("reset")), a=a)
        svc = providers.Singleton(Svc, journal, "svc", b=b)

    container = C()
    orch = Orchestrator(container, handle_signals=False)
    await orch.run()
    with pytest.raises(ShutdownError) as caught:
        await orch.shutdown()
    assert set(caught.value.failures) == {"b"}
    assert journal.count("b:close") == 1 and journal.count("a:close") == 1
    assert before(journal, "svc:stop", "b:close") and before(journal, "b:close", "a:close")
    assert not container.a.initialized and not container.b.initialized
    assert states(orch)["b"] is ServiceState.FAILED


@pytest.mark.parametrize("kind", CLOSING)
async def test_a_cleanup_that_hangs_past_its_stop_timeout_is_reported(kind: str) -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        a = providers.Resource(make("generator", journal, tag="a"))
        b = providers.Resource(make(kind, journal, tag="b", close_delay=3.0), a=a)

    container = C()
    orch = Orchestrator(container, handle_signals=False)
    orch.configure("b", stop_timeout=0.2)
    await orch.run()
    began = time.monotonic()
    with pytest.raises(ShutdownError) as caught:
        await orch.shutdown()
    assert time.monotonic() - began < 2.0
    assert set(caught.value.failures) == {"b"}
    cut = caught.value.failures["b"]
    assert str(cut) == "stop of resource 'b' was cut short by its 0.2s timeout"
    assert "a:close" in journal  # the others still close
    assert not container.b.initialized  # dependency-injector forgot it: no second close


async def test_a_start_timeout_on_a_slow_sync_init_rolls_back_and_closes_it_later() -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        db = providers.Resource(make("generator", journal, tag="db"))
        slow = providers.Resource(make("generator", journal, tag="slow", init_delay=0.5), db=db)

    container = C()
    orch = Orchestrator(container, handle_signals=False, stop_timeout=5)
    orch.configure("slow", start_timeout=0.1)
    began = time.monotonic()
    with pytest.raises(StartupError) as caught:
        await orch.run()
    assert str(caught.value) == (
        "Startup failed: 'slow': TimeoutError: resource 'slow' did not start within 0.1s. "
        "Stopped the 2 resource(s) that had started."
    )
    # the rollback waited for the thread: its init returned, then it closed
    assert journal.count("slow:close") == 1 and journal.count("db:close") == 1
    assert before(journal, "slow:close", "db:close")
    assert time.monotonic() - began < 3
    assert not container.slow.initialized


# -- overrides ----------------------------------------------------------------


async def test_an_async_init_that_ignores_its_cancellation_is_closed_once_it_opens() -> None:
    # Past its start timeout and cancel_grace the start is abandoned; the
    # init finishes later all the same, and then it is closed, once.
    journal = Journal()
    finished = asyncio.Event()

    async def stubborn() -> AsyncIterator[str]:
        journal.append("stubborn:opening")
        connect = asyncio.ensure_future(asyncio.sleep(0.5))
        while not connect.done():
            with contextlib.suppress(asyncio.CancelledError):  # every time: it keeps going
                await asyncio.shield(connect)
        journal.append("stubborn:open")
        finished.set()
        yield "conn"
        journal.append("stubborn:close")

    class C(containers.DeclarativeContainer):
        db = providers.Resource(make("async-generator", journal, tag="db"))
        stubborn_one = providers.Resource(stubborn)

    container = C()
    orch = Orchestrator(container, handle_signals=False, cancel_grace=0.05)
    orch.configure("stubborn_one", start_timeout=0.05)
    with pytest.raises(StartupError) as caught:
        await orch.run()
    assert "did not start within 0.05s and ignored its cancellation" in str(caught.value)
    assert "stubborn:close" not in journal  # not open yet: nothing to close
    await asyncio.wait_for(finished.wait(), 5)
    for _ in range(100):  # the late stop runs as soon as the init returned
        if "stubborn:close" in journal:
            break
        await asyncio.sleep(0.01)
    assert journal.count("stubborn:close") == 1 and journal.count("db:close") == 1
    assert not container.stubborn_one.initialized


async def test_a_resource_overridden_by_an_object_is_not_initialised() -> None:
    journal = Journal()
    fake = Conn("fake")

    class C(containers.DeclarativeContainer):
        pool = providers.Resource(make("async-generator", journal))
        api = providers.Singleton(Svc, journal, "api", pool=pool)

    container = C()
    async with run_services(container, {"pool": fake}) as orch:
        assert "pool" not in states(orch)
        assert orch.services["api"].deps["pool"] is fake  # type: ignore[attr-defined]
    container.pool.override(providers.Object(fake))
    async with Orchestrator(container, handle_signals=False).running() as orch:
        assert orch.plan().dependencies["api"] == ()
    assert journal == ["api:start", "api:stop"] * 2
    assert not container.pool.initialized


async def test_a_resource_overridden_by_another_resource_runs_the_override() -> None:
    real: list[str] = []
    fake: list[str] = []

    class C(containers.DeclarativeContainer):
        pool = providers.Resource(make("generator", real))

    container = C()
    with container.pool.override(providers.Resource(make("async-generator", fake))):
        async with Orchestrator(container, handle_signals=False).running() as orch:
            assert "pool" in states(orch)
    assert real == [] and fake == closes("async-generator")


# -- Services through Dependency, List, Dict, Selector ------------------------


async def test_services_through_dependency_list_dict_and_selector_are_nodes() -> None:
    journal = Journal()

    class C(containers.DeclarativeContainer):
        config = providers.Configuration()
        pool = providers.Resource(make("generator", journal, tag="pool"))
        overridden = providers.Dependency(instance_of=Svc)
        defaulted = providers.Dependency(
            instance_of=Svc, default=providers.Singleton(Svc, journal, "defaulted", pool=pool)
        )
        workers = providers.List(
            providers.Singleton(Svc, journal, "w0", pool=pool),
            providers.Singleton(Svc, journal, "w1"),
        )
        handlers = providers.Dict(http=providers.Singleton(Svc, journal, "http"))
        mode = providers.Selector(
            config.mode,
            fast=providers.Singleton(Svc, journal, "fast"),
            slow=providers.Singleton(Svc, journal, "slow"),
        )

    container = C()
    container.config.mode.from_value("fast")
    container.overridden.override(providers.Singleton(Svc, journal, "overridden"))
    async with Orchestrator(container, handle_signals=False).running() as orch:
        names = set(states(orch))
        assert {"overridden", "defaulted", "workers[0]", "workers[1]", "handlers[http]"} <= names
        assert "mode" in names
        assert orch.plan().dependencies["workers[0]"] == ("pool",)
        assert container.workers()[0] is orch.services["workers[0]"]
    for tag in ("overridden", "defaulted", "w0", "w1", "http", "fast"):
        assert journal.count(f"{tag}:start") == 1 and journal.count(f"{tag}:stop") == 1
    assert "slow:start" not in journal
    assert before(journal, "w0:stop", "pool:close")


# -- SIGTERM in a real process ------------------------------------------------

CHILD = Path(__file__).with_name("signal_child.py")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sigterm_during_a_slow_init_rolls_back_and_closes_what_opened(mode: str) -> None:
    child = childproc.Child(CHILD, mode)
    child.wait_for("opening slow")
    child.send(signal.SIGTERM)
    status = child.finish()
    assert status == 128 + signal.SIGTERM, child.stderr
    assert any(ln.startswith("startup error:") for ln in child.lines), child.lines
    assert child.lines.count("closed db") == 1
    if mode == "sync":
        # the init could not be interrupted; once it returned, it was closed
        assert child.lines.count("opened slow") == 1
        assert child.lines.count("closed slow") == 1
        assert child.lines.index("closed slow") < child.lines.index("closed db")
    else:
        # the init was cancelled inside: its own `finally` ran, nothing opened
        assert "aborted slow" in child.lines and "opened slow" not in child.lines
    assert "initialized: False False" in child.lines
    assert "handlers restored: True" in child.lines


# -- FastAPI: the fastapi-redis shape under lifespan(container) ---------------

JOURNAL: list[str] = []


async def init_redis_pool(host: str) -> AsyncIterator[Conn]:
    JOURNAL.append(f"open {host}")
    pool = Conn("redis")
    yield pool
    pool.closed = True
    JOURNAL.append("close")


class RedisService:
    def __init__(self, redis: Conn) -> None:
        self._redis = redis

    async def process(self) -> str:
        return "closed" if self._redis.closed else "open"


class RedisContainer(containers.DeclarativeContainer):
    config = providers.Configuration(default={"redis_host": "localhost"})
    redis_pool = providers.Resource(init_redis_pool, host=config.redis_host)
    service = providers.Factory(RedisService, redis=redis_pool)


@inject  # (a string annotation, as under __future__ annotations, hides an Annotated marker)
async def index(service: RedisService = Depends(Provide[RedisContainer.service])) -> dict[str, str]:
    return {"redis": await service.process()}


def test_the_fastapi_redis_shape_runs_unmodified_under_lifespan() -> None:
    container = RedisContainer()
    app = FastAPI(lifespan=lifespan(container))
    app.get("/")(index)
    container.wire(modules=[__name__])
    JOURNAL.clear()
    try:
        with TestClient(app) as client:
            assert JOURNAL == ["open localhost"]  # at startup, before any request
            assert container.redis_pool.initialized
            assert client.get("/").json() == {"redis": "open"}
            assert client.get("/").json() == {"redis": "open"}
            assert JOURNAL == ["open localhost"]  # one pool for every request
        assert JOURNAL == ["open localhost", "close"]
        assert not container.redis_pool.initialized
    finally:
        container.unwire()
