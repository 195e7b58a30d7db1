"""Containers the CLI tests run in child processes (``tests.cli.targets:...``).

Small and fast: no FastAPI, no network. ``config.fail`` names a service whose
startup fails; ``config.late_seconds`` delays the ``late`` service's readiness.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

from dependency_injector import containers, providers

from haraka_di import Runtime, Service


class Step(Service):
    def __init__(
        self, runtime: Runtime, *deps: Service, fail: str | None = None, hang: str | None = None
    ) -> None:
        super().__init__(runtime)
        self.deps = deps
        self.fail = fail
        self.hang = hang

    async def startup(self) -> None:
        if self.fail == self.name:
            raise RuntimeError(f"{self.name} cannot connect")
        if self.hang == self.name:
            await asyncio.Event().wait()


class Late(Service):
    """Ready ``seconds`` after its startup returned (it says so itself)."""

    ready_on_startup = False

    def __init__(self, runtime: Runtime, *deps: Service, seconds: float | None = 0.0) -> None:
        super().__init__(runtime)
        self.deps = deps
        self.seconds = seconds or 0.0

    async def startup(self) -> None:
        self.runtime.spawn(self._ready)

    async def _ready(self) -> None:
        await asyncio.sleep(self.seconds)
        self.runtime.mark_ready(self.name)


class Small(containers.DeclarativeContainer):
    """a <- b <- c, and late (after a)."""

    runtime = providers.Dependency(instance_of=Runtime)
    config = providers.Configuration()
    a = providers.Singleton(Step, runtime, fail=config.fail, hang=config.hang)
    b = providers.Singleton(Step, runtime, a, fail=config.fail, hang=config.hang)
    c = providers.Singleton(Step, runtime, b, fail=config.fail, hang=config.hang)
    late = providers.Singleton(Late, runtime, a, seconds=config.late_seconds)


class Undefined(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    dsn = providers.Dependency(instance_of=str)
    a = providers.Singleton(Step, runtime, fail=dsn)


class Outer(containers.DeclarativeContainer):
    """Nested: services named infra.a and web."""

    runtime = providers.Dependency(instance_of=Runtime)
    infra = providers.Container(Small, runtime=runtime)
    web = providers.Singleton(Step, runtime, infra.c)


def make_small() -> Small:
    return Small()


def make_nothing() -> int:
    return 42


def make_broken() -> Small:
    raise RuntimeError("the factory is broken")


instance = Small()
not_a_container = 42


class NotAContainer:
    pass


def open_store(journal: list[str]) -> Iterator[list[str]]:
    """A sync generator Resource; it says on stderr when its cleanup ran."""
    journal.append("store opened")
    yield journal
    journal.append("store closed")
    print("store closed", file=sys.stderr, flush=True)


class Stored(containers.DeclarativeContainer):
    """store (a Resource) <- a <- b: two services and one resource."""

    runtime = providers.Dependency(instance_of=Runtime)
    journal = providers.Object([])
    store = providers.Resource(open_store, journal)
    a = providers.Singleton(Step, runtime, store)
    b = providers.Singleton(Step, runtime, a)


class Empty(containers.DeclarativeContainer):
    """No lifecycle nodes: a configuration and a plain Factory only."""

    config = providers.Configuration(default={"greeting": "hello"})
    greeting = providers.Factory(str, config.greeting)
