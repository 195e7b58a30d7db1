"""Services with injectable faults, and the checks every fault test makes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from haraka_di import Orchestrator, Service

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Log:
    """Ordered record of ``start X`` / ``stop X`` events, shared by probes."""

    lines: list[str] = field(default_factory=list)

    def started(self) -> list[str]:
        return [ln[6:] for ln in self.lines if ln.startswith("start ")]

    def stopped(self) -> list[str]:
        return [ln[5:] for ln in self.lines if ln.startswith("stop ")]


class Probe(Service):
    """Counts startup()/shutdown() calls; the faults are opt-in.

    ``start_fault``/``stop_fault``: an exception to raise, or ``"hang"``
    (wait forever), or ``"deaf"`` (ignore the first cancellation, then wait
    for ``release``), or ``"stubborn"`` (ignore every cancellation until
    ``release``, then return). ``start_gate``/``stop_gate`` hold the call until set.
    """

    def __init__(
        self,
        name: str,
        log: Log,
        *,
        start_fault: BaseException | str | None = None,
        stop_fault: BaseException | str | None = None,
        start_gate: asyncio.Event | None = None,
        stop_gate: asyncio.Event | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.start_fault = start_fault
        self.stop_fault = stop_fault
        self.start_gate = start_gate
        self.stop_gate = stop_gate
        self.entered_start = asyncio.Event()
        self.entered_stop = asyncio.Event()
        self.release = asyncio.Event()
        self.ignored_cancel = asyncio.Event()
        self.startups = 0
        self.shutdowns = 0

    async def startup(self) -> None:
        self.startups += 1
        self.log.lines.append(f"enter-start {self.name}")
        self.entered_start.set()
        if self.start_gate is not None:
            await self.start_gate.wait()
        await self._fault(self.start_fault)
        self.log.lines.append(f"start {self.name}")

    async def shutdown(self) -> None:
        self.shutdowns += 1
        self.log.lines.append(f"enter-stop {self.name}")
        self.entered_stop.set()
        if self.stop_gate is not None:
            await self.stop_gate.wait()
        await self._fault(self.stop_fault)
        self.log.lines.append(f"stop {self.name}")

    async def _fault(self, fault: BaseException | str | None) -> None:
        if fault is None:
            return
        if fault == "hang":
            await asyncio.Event().wait()
        if fault == "stubborn":  # ignores every cancellation until released
            while not self.release.is_set():
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    self.log.lines.append(f"ignored-cancel {self.name}")
                    self.ignored_cancel.set()
            return
        if fault == "deaf":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.log.lines.append(f"ignored-cancel {self.name}")
                self.ignored_cancel.set()
            await self.release.wait()
            return
        assert isinstance(fault, BaseException)
        raise fault


def chain(
    orch: Orchestrator, log: Log, names: list[str], **faults: dict[str, Any]
) -> dict[str, Probe]:
    """Register ``names`` as a chain: each depends on the one before it.

    ``faults[name]`` are extra Probe keyword arguments for that probe.
    """
    probes: dict[str, Probe] = {}
    previous: list[str] = []
    for name in names:
        probes[name] = Probe(name, log, **faults.get(name, {}))
        orch.use(probes[name], dependencies=previous)
        previous = [name]
    return probes


async def run_held(
    orch: Orchestrator, log: Log, names: list[str], **faults: dict[str, Any]
) -> tuple[dict[str, Probe], asyncio.Task[None], asyncio.Event]:
    """:func:`chain` ``names``, hold the last one's startup on a gate and
    start ``run()`` in a task; return once that startup has been entered
    (everything before it has started). The gate is returned unopened."""
    gate = asyncio.Event()
    last = names[-1]
    held = {**faults.get(last, {}), "start_gate": gate}
    probes = chain(orch, log, names, **{**faults, last: held})
    run = asyncio.create_task(orch.run())
    await probes[last].entered_start.wait()
    return probes, run, gate


def calls(probes: dict[str, Probe]) -> dict[str, tuple[int, int]]:
    """name -> (startup() calls, shutdown() calls)."""
    return {n: (p.startups, p.shutdowns) for n, p in probes.items()}


def handlers() -> dict[signal.Signals, Any]:
    return {s: signal.getsignal(s) for s in SIGNALS}


async def settle() -> None:
    """Let cancelled tasks finish their last step."""
    for _ in range(3):
        await asyncio.sleep(0)


async def leftover_tasks() -> set[asyncio.Task[Any]]:
    """Tasks still pending besides the caller's own."""
    await settle()
    me = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not me and not t.done()}


@contextmanager
def handlers_restored() -> Iterator[None]:
    """Assert SIGINT/SIGTERM handlers are the same after the block."""
    before = handlers()
    yield
    assert handlers() == before
