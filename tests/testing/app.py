"""A small application container for the testing-toolkit tests."""

from __future__ import annotations

from dependency_injector import containers, providers

from haraka_di import Runtime, Service


class Journal(list[str]):
    """Shared, ordered record of ``start X`` / ``stop X`` lines."""


JOURNAL = Journal()


class Database(Service):
    def __init__(self, journal: Journal = JOURNAL, dsn: str = "sqlite://") -> None:
        super().__init__()
        self.journal = journal
        self.dsn = dsn

    async def startup(self) -> None:
        self.journal.append(f"start {self.name}")

    async def shutdown(self) -> None:
        self.journal.append(f"stop {self.name}")


class Cache(Database):
    pass


class Api(Database):
    def __init__(self, runtime: Runtime, db: object, cache: object, journal: Journal = JOURNAL):
        super().__init__(journal)
        self.runtime = runtime
        self.db = db
        self.cache = cache


class Worker(Database):
    def __init__(self, db: object, journal: Journal = JOURNAL) -> None:
        super().__init__(journal)
        self.db = db


class Infra(containers.DeclarativeContainer):
    journal = providers.Dependency(instance_of=Journal)
    db = providers.Singleton(Database, journal)
    cache = providers.Singleton(Cache, journal)


class Application(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    journal = providers.Object(JOURNAL)
    infra = providers.Container(Infra, journal=journal)
    api = providers.Singleton(Api, runtime, infra.db, infra.cache, journal)
    worker = providers.Factory(Worker, infra.db, journal)


def application(journal: Journal) -> Application:
    """A fresh container writing to ``journal``."""
    return Application(journal=providers.Object(journal))
