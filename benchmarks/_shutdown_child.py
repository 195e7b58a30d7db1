"""Child process for bench_shutdown.py: start N no-op services, print
``ready``, run until SIGTERM, stop them, exit.

    python benchmarks/_shutdown_child.py haraka|di|exitstack N
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import sys
from typing import Any

from haraka_di import Orchestrator, Service


class Noop(Service):
    def __init__(self, dep: object = None) -> None:
        super().__init__()


def ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


async def haraka(n: int) -> int:
    from dependency_injector import containers, providers

    container = containers.DynamicContainer()
    previous: Any = None
    for i in range(n):  # chains of ten
        previous = providers.Singleton(Noop, previous if i % 10 else None)
        setattr(container, f"s{i}", previous)
    orch = Orchestrator(container)
    orch.subscribe(lambda e: ready() if e.service is None and e.lifecycle.name == "RUNNING" else 0)
    return await orch.serve()


async def until_sigterm() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ready()
    await stop.wait()


async def exit_stack(n: int) -> int:
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(n):
            svc = Noop()
            await svc.startup()
            stack.push_async_callback(svc.shutdown)
        await until_sigterm()
    return 0


async def dependency_injector(n: int) -> int:
    from dependency_injector import containers, providers

    async def resource(dep: object = None) -> Any:
        yield None

    container = containers.DynamicContainer()
    previous: Any = None
    for i in range(n):
        previous = providers.Resource(resource, previous if i % 10 else None)
        setattr(container, f"r{i}", previous)
    await container.init_resources()
    await until_sigterm()
    await container.shutdown_resources()
    return 0


if __name__ == "__main__":
    # Every contender declares a container in a real application, and
    # dependency_injector.containers imports FastAPI when it is installed:
    # import it in all of them so that the interpreter's exit costs the same.
    importlib.import_module("dependency_injector.containers")

    mode, count = sys.argv[1], int(sys.argv[2])
    main = {"haraka": haraka, "di": dependency_injector, "exitstack": exit_stack}[mode]
    sys.exit(asyncio.run(main(count)))
