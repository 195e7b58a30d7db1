"""A real program for test_signal_processes.py: ``python signal_child.py MODE``.

Prints one flushed line per event so the parent can synchronise on them, and
at the end what was called, the leftover tasks and whether the signal
handlers were restored.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from haraka_di import Orchestrator, Service, StartupError


def say(line: str) -> None:
    print(line, flush=True)


class Step(Service):
    def __init__(self, name: str, start: str = "", stop: str = "") -> None:
        super().__init__()
        self.name = name
        self.start, self.stop = start, stop
        self.calls = [0, 0]
        self.release = asyncio.Event()

    async def startup(self) -> None:
        self.calls[0] += 1
        say(f"starting {self.name}")
        await self._fault(self.start)
        say(f"started {self.name}")

    async def shutdown(self) -> None:
        self.calls[1] += 1
        say(f"stopping {self.name}")
        await self._fault(self.stop)
        say(f"stopped {self.name}")

    async def _fault(self, fault: str) -> None:
        if fault == "hang":
            await asyncio.Event().wait()
        elif fault == "deaf":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                say(f"ignored-cancel {self.name}")
            await self.release.wait()


class Release(logging.Handler):
    """Lets a deaf stop go once the third signal was logged."""

    def __init__(self, step: Step) -> None:
        super().__init__()
        self.step = step

    def emit(self, record: logging.LogRecord) -> None:
        if "already forcing" in record.getMessage():
            say("third signal seen")
            self.step.release.set()


async def main(mode: str) -> int:
    # After a force, a stop that had not begun yet still gets up to cancel_grace:
    # in "mixed" the hanging api stop may begin only after both signals.
    grace = 1.0 if mode == "mixed" else 120
    orch = Orchestrator(stop_timeout=120, start_timeout=120, cancel_grace=grace)
    steps = [
        Step("db"),
        Step("cache", stop={"force": "hang", "third": "deaf"}.get(mode, "")),
        Step("api", start="hang" if mode == "startup" else "", stop="hang" * (mode == "mixed")),
    ]
    for before, step in zip([None, *steps], steps, strict=False):
        orch.use(step, dependencies=[before.name] if before else [])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logging.getLogger("haraka_di").addHandler(Release(steps[1]))
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    serving = asyncio.create_task(orch.serve())
    if mode != "startup":
        await orch.wait_for_all_ready()
        say("ready")
    try:
        status = await serving
    except StartupError as exc:
        say(f"startup error: {exc}")
        status = orch.exit_code
    after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    say(f"handlers restored: {before == after}")
    say(f"pending tasks: {len(pending)}")
    say("calls: " + " ".join(f"{s.name}={s.calls[0]}/{s.calls[1]}" for s in steps))
    say(f"state: {orch.state.name}")
    say(f"exit {status}")
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
