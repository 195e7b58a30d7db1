"""The step deadlines of one scheduler run, on a single event-loop timer.

Each step with a timeout has a deadline; the timer is armed for the
earliest. A step that finishes in time just drops its deadline (its heap
entry goes stale and is skipped when it comes up), so a run of N steps
creates one timer, not N ``call_later`` handles created and cancelled. Why:
docs/performance.md, "What the engine does to be fast".
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable

__all__ = ["Deadlines"]


class Deadlines:
    """Deadlines by step name; ``expire(name)`` is called for each that comes
    while still set. Call :meth:`close` when the run ends.

    :attr:`live` maps each step still within its timeout to its deadline;
    popping a name from it drops that deadline (a dict pop: it happens once
    per step).
    """

    def __init__(self, expire: Callable[[str], None]) -> None:
        self._expire = expire
        self.live: dict[str, float] = {}  # the steps still within their timeout
        self._heap: list[tuple[float, int, str]] = []  # stale entries dropped lazily
        self._alarm: asyncio.TimerHandle | None = None  # armed for the earliest deadline
        self._alarm_at = math.inf

    def __len__(self) -> int:
        """How many deadlines are still set."""
        return len(self.live)

    @property
    def armed(self) -> bool:
        """Is the timer armed?"""
        return self._alarm is not None

    def set(self, name: str, when: float, rank: int) -> None:
        """``name`` must end by ``when`` (loop time); ``rank`` breaks ties."""
        self.live[name] = when
        heapq.heappush(self._heap, (when, rank, name))
        if when < self._alarm_at:
            self._arm(when)

    def close(self) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        self._alarm_at = math.inf

    def _arm(self, when: float) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm_at = when
        self._alarm = asyncio.get_running_loop().call_at(when, self._on_alarm)

    def _on_alarm(self) -> None:
        """Expire every step whose deadline has come, then re-arm for the next."""
        # The loop may run a timer a hair before its time (clock resolution):
        # the deadline it was armed for counts as come.
        now = max(asyncio.get_running_loop().time(), self._alarm_at)
        self._alarm = None
        self._alarm_at = math.inf
        heap, current = self._heap, self.live
        while heap and (heap[0][0] <= now or current.get(heap[0][2]) != heap[0][0]):
            when, _, name = heapq.heappop(heap)
            if current.get(name) == when:  # not finished nor cancelled since
                self._expire(name)
        if heap:
            self._arm(heap[0][0])
