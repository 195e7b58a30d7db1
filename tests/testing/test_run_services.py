"""run_services: overrides, singletons, subsets, and stopping no matter what."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from haraka_di import (
    LifecycleState,
    Orchestrator,
    Service,
    StartupError,
    UnknownServiceError,
)
from haraka_di.testing import Recorder, override_providers, run_services

from .app import Api, Application, Database, Journal, application


class FakeDatabase(Service):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    async def startup(self) -> None:
        self.journal.append(f"start fake {self.name}")

    async def shutdown(self) -> None:
        self.journal.append(f"stop fake {self.name}")


class Boom(Service):
    async def startup(self) -> None:
        raise OSError("disk on fire")


async def test_runs_every_service_and_stops_them_after_the_block() -> None:
    journal = Journal()
    async with run_services(application(journal), max_concurrency=1) as orch:
        assert orch.state is LifecycleState.RUNNING
        assert sorted(orch.services) == ["api", "infra.cache", "infra.db", "worker"]
        assert journal == ["start infra.db", "start infra.cache", "start api", "start worker"]
    assert orch.state is LifecycleState.DESTROYED
    assert journal[4:] == ["stop worker", "stop api", "stop infra.cache", "stop infra.db"]


async def test_a_container_class_is_instantiated() -> None:
    async with run_services(Application) as orch:
        assert isinstance(orch.services["api"], Api)


async def test_stops_services_when_the_block_raises() -> None:
    journal = Journal()
    with pytest.raises(KeyError, match="in the block"):
        async with run_services(application(journal)) as orch:
            raise KeyError("in the block")
    assert orch.state is LifecycleState.DESTROYED
    assert sorted(line for line in journal if line.startswith("stop")) == [
        "stop api",
        "stop infra.cache",
        "stop infra.db",
        "stop worker",
    ]


async def test_a_fake_service_override_is_orchestrated_and_injected() -> None:
    journal = Journal()
    container = application(journal)
    fake = FakeDatabase(journal)
    async with run_services(container, {"infra.db": fake}, max_concurrency=1) as orch:
        assert orch.services["infra.db"] is fake
        assert orch.services["api"].db is fake  # type: ignore[attr-defined]
        assert orch.plan().dependencies["api"] == ("infra.db", "infra.cache")
    assert journal[0] == "start fake infra.db"
    assert journal[-1] == "stop fake infra.db"


async def test_a_provider_override_is_orchestrated_too() -> None:
    journal = Journal()
    replacement = providers.Singleton(FakeDatabase, journal)
    async with run_services(application(journal), {"infra.db": replacement}) as orch:
        assert isinstance(orch.services["infra.db"], FakeDatabase)
    assert "start fake infra.db" in journal
    assert "stop fake infra.db" in journal


async def test_a_plain_object_override_has_no_lifecycle_and_dependents_still_start() -> None:
    journal = Journal()
    plain = object()
    async with run_services(application(journal), {"infra.db": plain}) as orch:
        assert "infra.db" not in orch.services
        assert orch.services["api"].db is plain  # type: ignore[attr-defined]
        assert orch.services["worker"].db is plain  # type: ignore[attr-defined]
        assert "infra.db" not in orch.report()[0].dependencies
        assert {r.name for r in orch.report()} == {"api", "infra.cache", "worker"}
    assert not any("infra.db" in line for line in journal)
    assert "start api" in journal and "stop api" in journal


async def test_overrides_are_reset_afterwards_and_earlier_overrides_are_kept() -> None:
    journal = Journal()
    container = application(journal)
    async with run_services(container, {"infra.db": FakeDatabase(journal)}):
        pass
    db = container.infra.db()
    assert type(db) is Database
    assert db.journal is journal  # the override given at construction survived


async def test_overrides_are_reset_when_startup_fails() -> None:
    container = application(Journal())
    with pytest.raises(StartupError, match="disk on fire"):
        async with run_services(container, {"infra.cache": Boom()}):
            pytest.fail("the block must not run")
    assert type(container.infra.cache()).__name__ == "Cache"


async def test_singletons_built_before_the_overrides_do_not_leak_in() -> None:
    journal = Journal()
    container = application(journal)
    container.runtime.override(providers.Object(Orchestrator().runtime))
    early_api = container.api()  # built with the real database
    container.runtime.reset_override()
    fake = FakeDatabase(journal)
    async with run_services(container, {"infra.db": fake}) as orch:
        assert orch.services["api"] is not early_api
        assert orch.services["api"].db is fake  # type: ignore[attr-defined]
    after = container.api
    assert isinstance(after.cls, type) and after.cls is Api
    # nothing built during the run leaks out either
    assert container.infra.db() is not fake


async def test_only_starts_the_closure_of_the_named_services() -> None:
    journal = Journal()
    async with run_services(application(journal), only=["worker"]) as orch:
        assert sorted(orch.services) == ["infra.db", "worker"]
    assert sorted(journal) == ["start infra.db", "start worker", "stop infra.db", "stop worker"]


async def test_only_rejects_unknown_names_and_a_bare_string() -> None:
    with pytest.raises(UnknownServiceError, match=r"Unknown service 'nope'; known services: "):
        async with run_services(application(Journal()), only=["nope"]):
            pytest.fail("must not run")
    with pytest.raises(TypeError, match="list of service names"):
        async with run_services(application(Journal()), only="api"):
            pytest.fail("must not run")


async def test_unknown_override_paths_get_a_clear_error() -> None:
    container = application(Journal())
    with pytest.raises(LookupError, match=r"Cannot override 'infra\.dbx': infra has no provider"):
        async with run_services(container, {"infra.db": object(), "infra.dbx": object()}):
            pytest.fail("must not run")
    assert type(container.infra.db()) is Database  # the first override was undone
    with (
        pytest.raises(LookupError, match=r"'api\.x': 'api' is not a nested container"),
        override_providers(container, {"api.x": 1}),
    ):
        pytest.fail("must not run")


async def test_signals_are_left_alone_by_default_and_can_be_asked_for() -> None:
    async with run_services(application(Journal())) as orch:
        assert orch.handle_signals is False
    async with run_services(application(Journal()), handle_signals=True) as orch:
        assert orch.handle_signals is True


async def test_a_recorder_sees_the_whole_run() -> None:
    recorder = Recorder()
    async with run_services(application(Journal()), recorder=recorder, max_concurrency=1) as orch:
        assert recorder.orchestrator is orch
        assert recorder.started == ["infra.db", "infra.cache", "api", "worker"]
    assert recorder.stopped == ["worker", "api", "infra.cache", "infra.db"]


def test_orchestrator_stays_importable_from_testing_users() -> None:
    assert run_services.__module__ == "haraka_di.testing"
    assert Orchestrator.__name__ == "Orchestrator"


async def test_one_fake_instance_cannot_stand_in_for_two_services() -> None:
    fake = FakeDatabase(Journal())
    with pytest.raises(ValueError, match=r"overrides both 'infra\.db' and 'infra\.cache'"):
        async with run_services(application(Journal()), {"infra.db": fake, "infra.cache": fake}):
            pytest.fail("must not run")
