"""Event-driven execution of one step per service over a dependency graph.

A step runs once every service it waits for has finished and every service
of an earlier group (priority level) has finished. Ready steps launch in
rank order, at most ``max_concurrency`` at a time. Completion is signalled
by task callbacks, so the cost per service is constant: no polling, no scan
of what is in flight. Each step may have a timeout; a step that ignores its
cancellation is abandoned after ``cancel_grace`` seconds, so nothing here can
hang forever.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["GraphRun", "Outcome"]


class Outcome(enum.Enum):
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # ignored its cancellation; left behind


Step = Callable[[str], Coroutine[Any, Any, object]]
Finish = Callable[[str, Outcome, BaseException | None], None]


class GraphRun:
    """One pass (start or stop) over ``groups`` of service names.

    ``groups`` are priority levels in execution order, each listing its
    names in tie-break order. ``waits_for`` gives, for each name, the names
    that must finish first (names outside the run are ignored).
    """

    def __init__(
        self,
        groups: Sequence[Sequence[str]],
        waits_for: Mapping[str, Iterable[str]],
        *,
        max_concurrency: int | None,
        fail_fast: bool,
        cancel_grace: float,
    ) -> None:
        self._groups = groups
        self._rank: dict[str, int] = {}
        self._group_of: dict[str, int] = {}
        for g, names in enumerate(groups):
            for name in names:
                self._rank[name] = len(self._rank)
                self._group_of[name] = g
        self._successors: dict[str, list[str]] = {n: [] for n in self._rank}
        self._missing: dict[str, int] = dict.fromkeys(self._rank, 0)
        for name in self._rank:
            for before in waits_for.get(name, ()):
                if before in self._rank:
                    self._successors[before].append(name)
                    self._missing[name] += 1
        self._limit = max_concurrency
        self._fail_fast = fail_fast
        self._grace = cancel_grace
        self._aborted = False
        self._hurried = False
        self._inflight: dict[str, asyncio.Task[object]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._timed_out: set[str] = set()
        self._cancelled: set[str] = set()  # cancelled by this run (abort, timeout)
        self._finished: deque[tuple[str, Outcome, BaseException | None]] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self.abandoned: set[asyncio.Task[object]] = set()
        self.outcomes: dict[str, tuple[Outcome, BaseException | None]] = {}

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort(self) -> None:
        """Launch nothing more and cancel what is in flight."""
        self._aborted = True
        for name in list(self._inflight):
            self._cancel(name)

    def hurry(self) -> None:
        """Keep launching, but with no time to spare: in-flight steps are
        cancelled now and later steps get a zero timeout."""
        self._hurried = True
        for name in list(self._inflight):
            self._expire(name)

    async def run(
        self, step: Step, timeout_of: Callable[[str], float | None], on_finish: Finish
    ) -> dict[str, tuple[Outcome, BaseException | None]]:
        loop = asyncio.get_running_loop()
        groups = self._groups
        left = [len(g) for g in groups]
        ready: list[tuple[int, str]] = []
        group = -1

        def advance() -> int:
            g = group
            while g + 1 < len(groups):
                g += 1
                for name in groups[g]:
                    if self._missing[name] == 0:
                        heapq.heappush(ready, (self._rank[name], name))
                if left[g]:
                    break
            return g

        group = advance()
        try:
            while True:
                while (
                    ready
                    and not self._aborted
                    and (self._limit is None or len(self._inflight) < self._limit)
                ):
                    _, name = heapq.heappop(ready)
                    self._launch(loop, name, step, timeout_of(name))
                if not self._inflight and not self._finished:
                    break
                if not self._finished:
                    self._wakeup = loop.create_future()
                    try:
                        await self._wakeup
                    finally:
                        self._wakeup = None
                while self._finished:
                    name, outcome, error = self._finished.popleft()
                    self.outcomes[name] = (outcome, error)
                    on_finish(name, outcome, error)
                    left[self._group_of[name]] -= 1
                    if outcome is not Outcome.DONE and self._fail_fast:
                        self.abort()
                        continue
                    for successor in self._successors[name]:
                        self._missing[successor] -= 1
                        if self._missing[successor] == 0 and self._group_of[successor] == group:
                            heapq.heappush(ready, (self._rank[successor], successor))
                if group < len(groups) and left[group] == 0:
                    group = advance()
        except asyncio.CancelledError:
            self.abort()
            await self._settle(on_finish)
            raise
        return self.outcomes

    async def _settle(self, on_finish: Finish) -> None:
        """After our own cancellation: wait (bounded) for in-flight steps."""
        while self._inflight or self._finished:
            while self._finished:
                name, outcome, error = self._finished.popleft()
                self.outcomes[name] = (outcome, error)
                on_finish(name, outcome, error)
            if self._inflight:
                self._wakeup = asyncio.get_running_loop().create_future()
                try:
                    await asyncio.shield(self._wakeup)
                finally:
                    self._wakeup = None

    def _launch(
        self, loop: asyncio.AbstractEventLoop, name: str, step: Step, timeout: float | None
    ) -> None:
        task: asyncio.Task[object] = loop.create_task(_guard(step(name)), name=f"haraka:{name}")
        self._inflight[name] = task
        task.add_done_callback(lambda t: self._done(name, t))
        if self._hurried:
            timeout = 0.0
        if timeout is not None:
            self._timers[name] = loop.call_later(timeout, self._expire, name)

    def _expire(self, name: str) -> None:
        task = self._inflight.get(name)
        # A step that finished in this same loop iteration is not late: its
        # done-callback simply has not run yet.
        if task is not None and not task.done():
            self._timed_out.add(name)
            self._cancel(name)

    def _cancel(self, name: str) -> None:
        task = self._inflight.get(name)
        if task is None or task.done():
            return
        self._cancelled.add(name)
        task.cancel()
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(self._grace, self._abandon, name)

    def _abandon(self, name: str) -> None:
        task = self._inflight.pop(name, None)
        if task is None:
            return
        self._timers.pop(name, None)
        self.abandoned.add(task)
        task.add_done_callback(self.abandoned.discard)
        self._push(name, Outcome.ABANDONED, None)

    def _done(self, name: str, task: asyncio.Task[object]) -> None:
        if self._inflight.get(name) is not task:
            return  # abandoned earlier
        del self._inflight[name]
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        error = None if task.cancelled() else task.exception()
        if isinstance(error, _Escalated):
            error = error.original
        if task.cancelled() and name not in self._cancelled:
            # Nothing here cancelled it: the step leaked a CancelledError of
            # its own. That is a failure, not an interrupted step.
            error = asyncio.CancelledError(
                f"{name!r} ended with a CancelledError haraka_di never asked for"
            )
        if name in self._timed_out:
            outcome = Outcome.TIMED_OUT
        elif error is not None:
            outcome = Outcome.FAILED
        elif task.cancelled():
            outcome = Outcome.CANCELLED
        else:
            outcome = Outcome.DONE
        self._push(name, outcome, error)

    def _push(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        self._finished.append((name, outcome, error))
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)


class _Escalated(Exception):
    """Carries a KeyboardInterrupt/SystemExit out of a step as a failure
    instead of letting it tear through the event loop."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


async def _guard(step: Coroutine[Any, Any, object]) -> object:
    try:
        return await step
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Escalated(exc) from exc
