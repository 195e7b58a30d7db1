"""A real program for test_round2_processes.py: ``python round2_child.py MODE``.

``flush`` / ``flush-no-timeout``: one service and a shutdown task that never
ends (``add_shutdown_task(flush_forever)``), under ``serve()``, with the
default stop timeout or ``stop_timeout=None``. Prints ``ready``, ``flushing
forever`` when the shutdown task begins, and ``exit N``.
"""

from __future__ import annotations

import asyncio
import sys

from haraka_di import Orchestrator, Service

GRACE = 1.0


def say(line: str) -> None:
    print(line, flush=True)


class Db(Service):
    name = "db"


async def flush_forever() -> None:
    say("flushing forever")
    await asyncio.Event().wait()


async def main(mode: str) -> int:
    options: dict[str, object] = {"cancel_grace": GRACE}
    if mode == "flush-no-timeout":
        options["stop_timeout"] = None
    orch = Orchestrator(**options)  # type: ignore[arg-type]
    orch.use(Db())
    orch.add_shutdown_task(flush_forever)
    serving = asyncio.create_task(orch.serve())
    await orch.wait_for_all_ready()
    say("ready")
    status = await serving
    say(f"exit {status}")
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
