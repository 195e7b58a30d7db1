"""Event-driven execution of one step per service over a dependency graph.

A step runs once every service it waits for has finished and every service
of an earlier group (priority level) has finished. Ready steps launch in
rank order, at most ``max_concurrency`` at a time. Completion is signalled
by task callbacks, so the cost per service is constant: no polling, no scan
of what is in flight. Each step may have a timeout; a step that ignores its
cancellation is abandoned after ``cancel_grace`` seconds, so nothing here can
hang forever.

Timeouts share one loop timer per run: deadlines go into a heap and only the
earliest is armed with the event loop. A finished step's deadline is simply
forgotten (its heap entry is dropped lazily), so the common case - every
step finishing well within its timeout - costs one heap push per step
instead of a ``call_later`` handle created and cancelled per step.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import math
import sys
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
        self._timers: dict[str, asyncio.TimerHandle] = {}  # cancel_grace timers only
        self._deadline_of: dict[str, float] = {}  # steps still within their timeout
        self._deadlines: list[tuple[float, int, str]] = []  # heap; stale entries dropped lazily
        self._alarm: asyncio.TimerHandle | None = None  # armed for the earliest deadline
        self._alarm_at = math.inf
        self._timed_out: set[str] = set()
        self._cancelled: set[str] = set()  # cancelled by this run (abort, timeout)
        self._begun: set[str] = set()  # steps whose coroutine has started running
        self._finished: deque[tuple[str, Outcome, BaseException | None]] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self.abandoned: set[asyncio.Task[object]] = set()
        self.outcomes: dict[str, tuple[Outcome, BaseException | None]] = {}

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
                # A step that finished at launch (eager start) still holds its
                # concurrency slot until its completion has been processed.
                while (
                    ready
                    and not self._aborted
                    and (
                        self._limit is None
                        or len(self._inflight) + len(self._finished) < self._limit
                    )
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
        finally:
            self._disarm()
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
        launched = loop.time()
        task = _new_task(loop, _guard(step, name, self._begun), f"haraka:{name}")
        self._inflight[name] = task
        if task.done():  # an eager step that never had to wait: no callback, no timer
            self._done(name, task)
            return
        task.add_done_callback(lambda t: self._done(name, t))
        if self._aborted:  # the step's own synchronous part aborted the run
            self._cancel(name)
            return
        if self._hurried:
            timeout = 0.0
        if timeout is not None:
            when = launched + timeout
            self._deadline_of[name] = when
            heapq.heappush(self._deadlines, (when, self._rank[name], name))
            if when < self._alarm_at:
                self._arm(loop, when)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm_at = when
        self._alarm = loop.call_at(when, self._on_alarm)

    def _disarm(self) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        self._alarm_at = math.inf

    def _on_alarm(self) -> None:
        """Expire every step whose deadline has come, then re-arm for the next."""
        loop = asyncio.get_running_loop()
        # The loop may run a timer a hair before its time (clock resolution):
        # the deadline it was armed for counts as come.
        now = max(loop.time(), self._alarm_at)
        self._alarm = None
        self._alarm_at = math.inf
        heap = self._deadlines
        while heap and (heap[0][0] <= now or self._deadline_of.get(heap[0][2]) != heap[0][0]):
            when, _, name = heapq.heappop(heap)
            if self._deadline_of.get(name) == when:  # not finished nor cancelled since
                self._expire(name)
        if heap:
            self._arm(loop, heap[0][0])

    def _expire(self, name: str) -> None:
        task = self._inflight.get(name)
        # A step that finished in this same loop iteration is not late: its
        # done-callback simply has not run yet.
        if task is not None and not task.done():
            if name not in self._begun:
                # Cancelled before its first step, its coroutine would never
                # run (a stop would skip shutdown() entirely). Its first step
                # is already queued: let it begin, then expire it.
                asyncio.get_running_loop().call_soon(self._expire, name)
                return
            self._timed_out.add(name)
            self._cancel(name)

    def _cancel(self, name: str) -> None:
        task = self._inflight.get(name)
        if task is None or task.done():
            return
        self._cancelled.add(name)
        task.cancel()
        self._deadline_of.pop(name, None)
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
        self._deadline_of.pop(name, None)
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


def _new_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, object], name: str
) -> asyncio.Task[object]:
    """A task for one step; on Python 3.12+ an eagerly started one.

    An eager task runs its coroutine at once, up to its first real wait. A
    step that finishes without waiting (a no-op, a cache that is already
    warm) then costs no event-loop round trips at all: it is done when this
    returns. The task is still a real task - ``asyncio.current_task()``,
    ``asyncio.timeout()`` and task groups inside the step behave the same.
    Python 3.11 has no eager tasks, and a custom task factory is respected.
    """
    if sys.version_info >= (3, 12) and loop.get_task_factory() is None:
        return asyncio.Task(coro, loop=loop, name=name, eager_start=True)
    return loop.create_task(coro, name=name)


async def _guard(step: Step, name: str, begun: set[str]) -> object:
    # The step's coroutine is made here, so a task cancelled before it ever
    # ran leaves no never-awaited coroutine behind.
    begun.add(name)
    try:
        return await step(name)
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Escalated(exc) from exc
