"""Services declared in dependency-injector containers."""

from __future__ import annotations

from typing import Any

import pytest
from dependency_injector import containers, providers

from haraka_di import Orchestrator, Runtime, Service, ServiceState

from .helpers import Journal


class Svc(Service):
    """A service that records itself in a class-level journal."""

    journal = Journal()

    def __init__(self, runtime: Runtime, *deps: Any, **options: Any) -> None:
        super().__init__(runtime)
        self.deps = deps
        self.options = options

    async def startup(self) -> None:
        self.journal.append(f"start {self.name}")

    async def shutdown(self) -> None:
        self.journal.append(f"stop {self.name}")


@pytest.fixture(autouse=True)
def _clear() -> None:
    Svc.journal.clear()


class Infra(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    config = providers.Configuration()
    db = providers.Singleton(Svc, runtime, dsn=config.dsn)
    cache = providers.Singleton(Svc, runtime, db)


class App(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    config = providers.Configuration(default={"dsn": "sqlite://", "mode": "a"})
    infra = providers.Container(Infra, runtime=runtime, config=config)
    repo = providers.Factory(dict, db=infra.db, name=infra.cache.provided.name)
    api = providers.Singleton(Svc, runtime, repo, lazy=infra.db.provider)
    mode_a = providers.Singleton(Svc, runtime)
    mode_b = providers.Singleton(Svc, runtime)
    selected = providers.Selector(config.mode, a=mode_a, b=mode_b)
    admin = providers.Singleton(
        Svc, runtime, providers.List(providers.Dict(x=selected)), providers.Callable(str, api)
    )


def test_nested_services_are_named_by_their_path_and_edges_cross_containers() -> None:
    plan = Orchestrator(App()).plan()
    assert set(plan.order) == {"infra.db", "infra.cache", "api", "mode_a", "mode_b", "admin"}
    assert plan.dependencies["infra.cache"] == ("infra.db",)
    # through a Factory, a `.provided` attribute, and past a lazy `.provider`
    assert set(plan.dependencies["api"]) == {"infra.db", "infra.cache"}
    # through List, Dict, Selector (every branch) and Callable
    assert set(plan.dependencies["admin"]) == {"mode_a", "mode_b", "api"}


def test_delegate_injection_orders_nothing() -> None:
    class C(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        a = providers.Singleton(Svc, runtime)
        b = providers.Singleton(Svc, runtime, a.provider, providers.Delegate(a))

    plan = Orchestrator(C()).plan()
    assert plan.dependencies["b"] == ()


async def test_runtime_is_injected_and_instances_are_shared_with_dependents() -> None:
    container = App()
    orch = Orchestrator(container)
    await orch.run()
    api = orch.services["api"]
    db = orch.services["infra.db"]
    assert api.runtime is orch.runtime
    assert api.deps[0]["db"] is db
    assert api.deps[0]["name"] == "infra.cache"
    assert db.options == {"dsn": "sqlite://"}
    assert db.name == "infra.db"
    await orch.shutdown()
    starts = Svc.journal.starts()
    assert starts.index("infra.db") < starts.index("infra.cache") < starts.index("api")
    assert starts.index("api") < starts.index("admin")
    assert Svc.journal.stops() == list(reversed(Orchestrator(App()).plan().order))


async def test_container_class_is_accepted() -> None:
    orch = Orchestrator(App)
    await orch.run()
    assert orch.container is not None
    assert orch.container.api() is orch.services["api"]
    await orch.shutdown()
    assert len(Svc.journal.stops()) == 6


def test_two_providers_of_the_same_class_are_two_services() -> None:
    class C(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        primary = providers.Singleton(Svc, runtime)
        replica = providers.Singleton(Svc, runtime)

    assert Orchestrator(C()).plan().order == ("primary", "replica")


async def test_factory_services_are_built_once_per_run_and_shared() -> None:
    class C(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        db = providers.Factory(Svc, runtime)
        api = providers.Factory(Svc, runtime, db)

    container = C()
    orch = Orchestrator(container)
    await orch.run()
    assert orch.services["api"].deps[0] is orch.services["db"]
    assert container.db() is orch.services["db"]
    await orch.shutdown()
    container.runtime.override(providers.Object(orch.runtime))
    assert container.db() is not orch.services["db"]  # pinned for the run only


async def test_singletons_built_by_the_run_are_reset_after_shutdown() -> None:
    container = App()
    orch = Orchestrator(container)
    await orch.run()
    db = orch.services["infra.db"]
    await orch.shutdown()
    with pytest.raises(Exception, match="Dependency"):
        container.infra.db()  # runtime unbound again: nothing stale is handed out
    container.runtime.override(providers.Object(orch.runtime))
    assert container.infra.db() is not db


async def test_override_with_a_fake_service_orchestrates_the_fake() -> None:
    class FakeDb(Service):
        started = False

        async def startup(self) -> None:
            FakeDb.started = True

    container = App()
    container.infra.db.override(providers.Singleton(FakeDb))
    orch = Orchestrator(container)
    await orch.run()
    assert isinstance(orch.services["infra.db"], FakeDb)
    assert orch.services["infra.db"].name == "infra.db"
    assert FakeDb.started
    assert orch.services["infra.cache"].deps[0] is orch.services["infra.db"]
    await orch.shutdown()
    assert "infra.db" not in Svc.journal.stops()


async def test_override_with_a_plain_object_removes_the_node_and_dependents_still_start() -> None:
    container = App()
    fake = object()
    container.infra.db.override(providers.Object(fake))
    orch = Orchestrator(container)
    plan = orch.plan()
    assert "infra.db" not in plan.order
    assert plan.dependencies["infra.cache"] == ()
    await orch.run()
    assert orch.services["infra.cache"].deps[0] is fake
    await orch.shutdown()
    assert orch.report()[0].state is ServiceState.STOPPED


async def test_override_of_a_plain_provider_adds_the_edges_of_the_override() -> None:
    class C(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        a = providers.Singleton(Svc, runtime)
        b = providers.Singleton(Svc, runtime)
        settings = providers.Object({})
        api = providers.Singleton(Svc, runtime, settings)

    container = C()
    assert Orchestrator(container).plan().dependencies["api"] == ()
    container.settings.override(providers.Dict(x=container.b))
    assert Orchestrator(container).plan().dependencies["api"] == ("b",)


def test_a_callable_annotated_to_return_a_service_is_a_service() -> None:
    def make(runtime: Runtime) -> Svc:
        return Svc(runtime)

    class C(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        made = providers.Callable(make, runtime)
        other = providers.Callable(dict)

    assert Orchestrator(C()).plan().order == ("made",)


async def test_a_constructor_error_is_a_startup_error_naming_the_service() -> None:
    from haraka_di import StartupError

    class Broken(Service):
        def __init__(self) -> None:
            raise ValueError("no dsn configured")

    class C(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        ok = providers.Singleton(Svc, runtime)
        broken = providers.Singleton(Broken)

    orch = Orchestrator(C())
    with pytest.raises(StartupError, match=r"'broken'.*no dsn configured") as info:
        await orch.run()
    assert isinstance(info.value.__cause__, ValueError)
    # Each service is built inside its own start, so an independent one may
    # have started already: whatever started was stopped again.
    assert Svc.journal in ([], ["start ok", "stop ok"])


class Timed(Service):
    priority = 3
    start_timeout = 4.0


class SameClass(containers.DeclarativeContainer):
    a = providers.Singleton(Timed)
    b = providers.Singleton(Timed)
    c = providers.Singleton(Timed)
    d = providers.Singleton(Timed)


def test_services_of_one_class_are_configured_one_by_one() -> None:
    # The registry reads a class's settings once for all its unconfigured
    # services; a configure()d one must still get its own.
    orchestrator = Orchestrator(SameClass, stop_timeout=7.0)
    orchestrator.configure("b", priority=9, start_timeout=1.5)
    orchestrator.configure("c", enabled=False)
    orchestrator.configure("d", dependencies=["a"])
    plan, entries, _ = orchestrator._collect()
    assert plan.priority == {"a": 3, "b": 9, "d": 3}
    assert {n: e.start_timeout for n, e in entries.items()} == {"a": 4.0, "b": 1.5, "d": 4.0}
    assert {e.stop_timeout for e in entries.values()} == {7.0}
    assert plan.dependencies == {"a": (), "b": (), "d": ("a",)}
