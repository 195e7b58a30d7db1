"""A real program run by test_signals.py: `python signal_child.py MODE`.

Prints one line per event, flushed, so the parent synchronises on output.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from haraka_di import Orchestrator, Service, StartupError


def say(line: str) -> None:
    print(line, flush=True)


class Step(Service):
    def __init__(self, name: str, *, hang_start: bool = False, slow_stop: bool = False) -> None:
        super().__init__()
        self.name = name
        self.hang_start = hang_start
        self.slow_stop = slow_stop

    async def startup(self) -> None:
        say(f"starting {self.name}")
        if self.hang_start:
            await asyncio.Event().wait()
        say(f"started {self.name}")

    async def shutdown(self) -> None:
        say(f"stopping {self.name}")
        if self.slow_stop:
            await asyncio.sleep(60)
        say(f"stopped {self.name}")


async def main(mode: str) -> int:
    orch = Orchestrator(stop_timeout=120, start_timeout=120)
    orch.use(Step("db"))
    orch.use(Step("cache", slow_stop=mode == "force"), dependencies=["db"])
    orch.use(Step("api", hang_start=mode == "startup"), dependencies=["cache"])
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    orch.subscribe(lambda e: e.service is None and e.lifecycle.name == "RUNNING" and say("running"))
    try:
        status = await orch.serve()
    except StartupError as exc:
        say(f"startup error: {exc}")
        status = orch.exit_code
    after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    say(f"handlers restored: {before == after}")
    say(f"exit {status}")
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
