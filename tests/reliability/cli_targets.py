"""Containers that test_round2_processes.py runs with ``haraka run`` in a child
process (``tests.reliability.cli_targets:...``). No network, no FastAPI.

Each fault prints one line to stderr when it begins (``flushing forever``,
``swallowed a cancellation``), so the test synchronises on output.
"""

from __future__ import annotations

import asyncio
import logging

from dependency_injector import containers, providers

from haraka_di import Runtime, Service

log = logging.getLogger("targets")


class Db(Service):
    """Starts and stops at once."""


class Flusher(Service):
    """Adds a shutdown task that never ends (``add_shutdown_task(flush_forever)``)."""

    def __init__(self, runtime: Runtime, db: Db) -> None:
        super().__init__(runtime)
        self.db = db

    async def startup(self) -> None:
        self.runtime.add_shutdown_task(self.flush_forever)

    async def flush_forever(self) -> None:
        log.warning("flushing forever")
        await asyncio.Event().wait()


class Deaf(Service):
    """``startup()`` (or, with ``where="stop"``, ``shutdown()``) swallows every
    cancellation, for ever: level-triggered cancellation cannot end it."""

    def __init__(self, runtime: Runtime, db: Db, where: str | None = "start") -> None:
        super().__init__(runtime)
        self.db = db
        self.where = where or "start"

    async def startup(self) -> None:
        if self.where == "start":
            await _never_end()

    async def shutdown(self) -> None:
        if self.where == "stop":
            await _never_end()


async def _never_end() -> None:
    said = False
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if not said:
                log.warning("swallowed a cancellation")
                said = True


class Flush(containers.DeclarativeContainer):
    """db <- flusher, whose shutdown task hangs."""

    runtime = providers.Dependency(instance_of=Runtime)
    db = providers.Singleton(Db, runtime)
    flusher = providers.Singleton(Flusher, runtime, db)


class Stubborn(containers.DeclarativeContainer):
    """db <- deaf, whose start (or stop: ``config.where=stop``) never ends."""

    runtime = providers.Dependency(instance_of=Runtime)
    config = providers.Configuration()
    db = providers.Singleton(Db, runtime)
    deaf = providers.Singleton(Deaf, runtime, db, where=config.where)


class Quick(containers.DeclarativeContainer):
    """One service that starts and stops at once: the late-signal window."""

    runtime = providers.Dependency(instance_of=Runtime)
    db = providers.Singleton(Db, runtime)
