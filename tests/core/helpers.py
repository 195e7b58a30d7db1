"""Small services that record what happens to them, for the core tests."""

from __future__ import annotations

import asyncio

from haraka_di import Service


class Journal(list[str]):
    """Shared, ordered record of ``start X`` / ``stop X`` lines."""

    def starts(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self if line.startswith("start ")]

    def stops(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self if line.startswith("stop ")]


class Recorder(Service):
    """Records its start and stop; optionally waits on a gate or fails."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        gate: asyncio.Event | None = None,
        fail_start: BaseException | None = None,
        fail_stop: BaseException | None = None,
        stop_gate: asyncio.Event | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.journal = journal
        self.gate = gate
        self.stop_gate = stop_gate
        self.fail_start = fail_start
        self.fail_stop = fail_stop
        self.entered = asyncio.Event()
        self.startups = 0
        self.shutdowns = 0

    async def startup(self) -> None:
        self.startups += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_start is not None:
            raise self.fail_start
        self.journal.append(f"start {self.name}")

    async def shutdown(self) -> None:
        self.shutdowns += 1
        if self.stop_gate is not None:
            await self.stop_gate.wait()
        if self.fail_stop is not None:
            raise self.fail_stop
        self.journal.append(f"stop {self.name}")
