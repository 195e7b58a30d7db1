"""Core behaviour found while writing the user guide, pinned by tests."""

from __future__ import annotations

from dependency_injector import containers, providers

from haraka_di import Orchestrator, Service
from haraka_di.testing import run_services

from .app import Journal, application


async def test_plan_during_a_run_keeps_the_edges_of_factory_services() -> None:
    # `worker` is a Factory: the run pins its instance with an Object override,
    # which must not make plan() (called while running) forget its edges.
    container = application(Journal())
    async with run_services(container) as orch:
        assert orch.plan().dependencies["worker"] == ("infra.db",)
        assert orch.plan().order.index("infra.db") < orch.plan().order.index("worker")
    assert orch.plan().dependencies["worker"] == ("infra.db",)


class _Db(Service):
    pass


class _Repository:
    """Not a service, but it holds one: a singleton tied to the db instance."""

    def __init__(self, db: _Db) -> None:
        self.db = db


class _Api(Service):
    def __init__(self, repo: _Repository) -> None:
        super().__init__()
        self.repo = repo


class _Shared(containers.DeclarativeContainer):
    settings = providers.Singleton(dict, url="sqlite://")  # holds no service
    db = providers.Singleton(_Db)
    repo = providers.Singleton(_Repository, db)
    api = providers.Singleton(_Api, repo)


async def test_a_container_run_twice_injects_the_services_of_the_current_run() -> None:
    # A non-service singleton between two services (repo) captured run 1's db;
    # run 2 must not inject that stopped db into its api.
    container = _Shared()
    settings = container.settings()
    for _ in range(2):
        orch = Orchestrator(container, handle_signals=False)
        async with orch.running():
            assert orch.services["api"].repo.db is orch.services["db"]  # type: ignore[attr-defined]
    assert container.settings() is settings  # singletons tied to no service are kept


async def test_singletons_built_before_a_run_with_other_services_are_rebuilt() -> None:
    container = _Shared()
    stale = container.repo()  # holds a db built outside the run ...
    container.db.reset()  # ... which the run will not use
    orch = Orchestrator(container, handle_signals=False)
    async with orch.running():
        assert orch.services["api"].repo is not stale  # type: ignore[attr-defined]
        assert orch.services["api"].repo.db is orch.services["db"]  # type: ignore[attr-defined]
