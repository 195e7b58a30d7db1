"""The original API, used exactly as its users wrote it."""

import asyncio
from types import SimpleNamespace

import pytest

from haraka_di import LifecycleState, Orchestrator, ReadinessTimeoutError, Service

events: list[str] = []


class DBService(Service):
    name = "db"

    async def startup(self) -> None:
        events.append("db up")

    async def shutdown(self) -> None:
        events.append("db down")


class APIService(Service):
    name = "api"

    async def startup(self) -> None:
        events.append("api up")

    async def shutdown(self) -> None:
        events.append("api down")


class CacheService(Service):
    name = "cache"
    ready_on_startup = False

    async def startup(self) -> None:
        await asyncio.sleep(0.05)
        self.runtime.mark_ready(self.name)


class NeverReady(Service):
    name = "lazy"
    ready_on_startup = False


@pytest.fixture(autouse=True)
def _clear() -> None:
    events.clear()


async def test_db_then_api_and_reverse_on_shutdown() -> None:
    settings = SimpleNamespace(port=8000)
    app = SimpleNamespace(docs_url="/docs")
    orch = Orchestrator()
    orch.use(DBService(), priority=10)
    orch.use(APIService(), priority=5, dependencies=["db"])
    await orch.run(settings, app)
    assert events == ["db up", "api up"]
    assert orch.state is LifecycleState.RUNNING
    assert orch.docs_url == "http://127.0.0.1:8000/docs"
    await orch.shutdown()
    assert events == ["db up", "api up", "api down", "db down"]
    assert orch.state is LifecycleState.DESTROYED


async def test_docs_url_is_not_announced_when_docs_are_disabled() -> None:
    orch = Orchestrator()
    orch.use(DBService())
    await orch.run(SimpleNamespace(port=9000), SimpleNamespace(docs_url=None))
    assert orch.docs_url is None
    await orch.shutdown()


async def test_cache_marks_itself_ready_and_wait_returns() -> None:
    orch = Orchestrator()
    orch.use(CacheService())
    await orch.run(SimpleNamespace(port=8000), None)
    await orch.wait_for_all_ready(timeout=5.0)
    assert orch.is_ready("cache")
    await orch.shutdown()


async def test_never_ready_service_times_out_with_its_name() -> None:
    orch = Orchestrator()
    orch.use(NeverReady())
    orch.use(DBService())
    await orch.run()
    with pytest.raises(TimeoutError) as info:
        await orch.wait_for_all_ready(timeout=0.2)
    assert isinstance(info.value, ReadinessTimeoutError)
    assert "lazy" in str(info.value)
    assert "db" not in info.value.not_ready
    assert "RUNNING" in str(info.value)
    await orch.shutdown()


async def test_cycle_raises_runtime_error_with_the_path_before_anything_starts() -> None:
    class A(Service):
        name = "a"

        async def startup(self) -> None:
            events.append("a up")

    class B(Service):
        name = "b"

    orch = Orchestrator()
    orch.use(A(), dependencies=["b"])
    orch.use(B(), dependencies=["a"])
    with pytest.raises(RuntimeError) as info:
        await orch.run()
    message = str(info.value)
    assert message.startswith("Circular dependency detected at a")
    assert "a -> b -> a" in message
    assert events == []


async def test_missing_dependency_message_is_exact() -> None:
    class Bar(Service):
        name = "bar"

    orch = Orchestrator()
    orch.use(Bar(), dependencies=["foo"])
    with pytest.raises(RuntimeError) as info:
        await orch.run()
    assert str(info.value) == "Unknown dependency 'foo' for service 'bar'"
    assert orch.state is LifecycleState.CREATED
