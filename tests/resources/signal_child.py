"""A real program for test_resources_lifecycle.py: ``python signal_child.py MODE``.

MODE ``sync`` or ``async``: a Resource ``db``, then a Resource ``slow`` that
depends on it and whose (sync or async) initialiser takes 2 s; the parent
sends SIGTERM while ``slow`` is opening. Prints one flushed line per event,
then whether both providers are initialised and whether the signal handlers
were restored.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator

from dependency_injector import containers, providers

from haraka_di import Orchestrator, StartupError


def say(line: str) -> None:
    print(line, flush=True)


def open_db() -> Iterator[str]:
    say("opened db")
    yield "db"
    say("closed db")


def slow_sync(db: str) -> Iterator[str]:
    say("opening slow")
    time.sleep(2)  # a blocking connect: no way to interrupt it
    say("opened slow")
    yield "slow"
    say("closed slow")


async def slow_async(db: str) -> AsyncIterator[str]:
    say("opening slow")
    try:
        await asyncio.sleep(2)
    finally:  # runs when the init is cancelled here
        say("aborted slow")
    say("opened slow")
    yield "slow"
    say("closed slow")


async def main(mode: str) -> int:
    class Container(containers.DeclarativeContainer):
        db = providers.Resource(open_db)
        slow = providers.Resource(slow_sync if mode == "sync" else slow_async, db=db)

    container = Container()
    orch = Orchestrator(container, start_timeout=60, stop_timeout=30)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = await orch.serve()
    except StartupError as exc:
        say(f"startup error: {exc}")
        status = orch.exit_code
    after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    say(f"initialized: {container.db.initialized} {container.slow.initialized}")
    say(f"handlers restored: {before == after}")
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
