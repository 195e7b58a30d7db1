"""Event-driven execution of one step per service over a dependency graph.

A step runs once every service it waits for has finished and every service
of an earlier group (priority level) has finished (the
:class:`~haraka_di._frontier.Frontier` of the run). Ready steps launch in
rank order, at most ``max_concurrency`` at a time. Each step may have a
timeout; a step that ignores its cancellation is abandoned after
``cancel_grace`` seconds, so nothing here can hang forever, and is cancelled
again for as long as it keeps running.

A step reports its own outcome from inside its task, the moment its
coroutine ends, and the run launches whatever that unblocks right there: a
chain of services costs one event-loop iteration per link, and no scan or
poll of what is in flight ever happens. Outcomes are processed in the run's
own context, never in a finishing step's. The one end a step cannot report
itself - its task cancelled before its coroutine ever ran - is found by
whatever looks at the task next: an abort, the step's deadline, or, for a
step with no timeout, a done-callback added for just that.

A *direct* step (a Resource's initialisation) is no coroutine of ours: it
gives a future already under way (dependency-injector's own init task),
and the run watches that future instead of wrapping it in a task. The
direct steps ready together start in one call (``start_direct``), and are
swept one loop iteration later, after their tasks' first steps: those done
by then (an init that never waits) report together and are processed in
one drain, the others through a done-callback. Cancelling a direct step
cancels its future.

Timeouts share one loop timer per run (:class:`~haraka_di._deadlines.Deadlines`).
Why each of these choices is fast: docs/performance.md, "What the engine
does to be fast".
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, Sequence
from typing import Any

from ._deadlines import Deadlines
from ._frontier import Frontier
from ._steptask import Escalated, keep_cancelling, new_task

__all__ = ["GraphRun", "Outcome"]


class Outcome(enum.Enum):
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # ignored its cancellation; left behind


Step = Callable[[str], Awaitable[object]]
#: Starts direct steps together: per name, the future under way, or the
#: exception its synchronous part raised.
StartDirect = Callable[[Sequence[str]], Sequence["asyncio.Future[object] | BaseException"]]
Finish = Callable[[str, Outcome, BaseException | None], None]

_LAUNCHING: Any = object()  # in flight, its task still being created


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
        self._frontier = Frontier(groups, waits_for)
        self._limit = max_concurrency
        self._fail_fast = fail_fast
        self._grace = cancel_grace
        self._aborted = False
        self._hurried_until: float | None = None  # set by hurry(): later steps' deadline
        self._inflight: dict[str, asyncio.Future[object]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}  # cancel_grace timers only
        self._deadlines = Deadlines(self._expire)
        self._deadline_of = self._deadlines.live  # (dropping one is a dict pop)
        self._timed_out: set[str] = set()
        self._cancelled: set[str] = set()  # cancelled by this run (abort, timeout)
        self._begun: set[str] = set()  # task steps whose coroutine has started running
        self._finished: deque[tuple[str, Outcome, BaseException | None]] = deque()
        self._draining = False
        self._settled: asyncio.Future[None] | None = None  # done once nothing is left to do
        self._direct: Container[str] = ()  # steps started by start_direct (see run())
        self._start_direct: StartDirect | None = None
        # direct steps launched together, not yet swept: names, and per name
        # its future (or what its start raised)
        self._watch: list[tuple[list[str], Sequence[asyncio.Future[object] | BaseException]]] = []
        self._sweep_due = False
        self.abandoned: dict[str, asyncio.Future[object]] = {}  # still running, by name
        self.outcomes: dict[str, tuple[Outcome, BaseException | None]] = {}

    def abort(self) -> None:
        """Launch nothing more and cancel what is in flight."""
        self._aborted = True
        for name in list(self._inflight):
            self._cancel(name)

    def hurry(self, until: float) -> None:
        """Keep launching, but with no time to spare: in-flight steps are
        cancelled now, and later steps must finish by ``until`` (loop time),
        or their own timeout if that is sooner."""
        self._hurried_until = until
        for name in list(self._inflight):
            self._expire(name)

    async def run(
        self,
        step: Step,
        timeout_of: Callable[[str], float | None],
        on_finish: Finish,
        direct: Container[str] = (),
        start_direct: StartDirect | None = None,
    ) -> dict[str, tuple[Outcome, BaseException | None]]:
        """Run ``step(name)`` for every name, each in a task of its own; but
        the names in ``direct`` are started by ``start_direct(names)``, the
        ones ready together in one call, in the run's context: each gives a
        future already under way (a Resource's initialisation), which the
        run watches instead of giving the step a task."""
        if direct and start_direct is None:
            raise TypeError("direct steps need start_direct")
        self._loop = asyncio.get_running_loop()
        self._step, self._timeout_of, self._on_finish = step, timeout_of, on_finish
        self._direct, self._start_direct = direct, start_direct
        self._context = contextvars.copy_context()
        self._settled = self._loop.create_future()
        try:
            self._kick()
            await self._settled
        except asyncio.CancelledError:
            self.abort()
            await self._settle()
            raise
        finally:
            self._deadlines.close()
        return self.outcomes

    async def _settle(self) -> None:
        """After our own cancellation: wait (bounded) for in-flight steps."""
        while self._inflight or self._finished:
            self._settled = self._loop.create_future()
            self._kick()
            if self._inflight or self._finished:
                await asyncio.shield(self._settled)

    # -- the engine: finished steps in, ready steps out -------------------------

    def _kick(self) -> None:
        """Process what has finished and launch what that unblocked, in the
        run's context. Re-entrant calls (a step finishing while launching)
        only queue: the outer call picks their outcome up."""
        if not self._draining:
            self._context.run(self._drain)

    def _drain(self) -> None:
        self._draining = True
        direct, frontier, limit = self._direct, self._frontier, self._limit
        names = frontier.names
        try:
            while True:
                while self._finished:
                    self._account(*self._finished.popleft())
                if frontier.ready and not self._aborted:
                    # all the ready steps, unless max_concurrency leaves less room
                    room = (
                        None if limit is None else limit - len(self._inflight) - len(self._finished)
                    )
                    batch: list[str] = []  # the direct steps ready together
                    for rank in frontier.take(room):
                        if self._aborted:  # a step's own synchronous part aborted the run
                            break
                        name = names[rank]
                        if name in direct:
                            batch.append(name)
                        else:
                            self._launch(name)
                    if batch:
                        self._launch_direct(batch)
                if not self._finished:
                    break
            if self._watch and not self._sweep_due:
                # after every init launched here has queued its first step
                self._sweep_due = True
                self._loop.call_soon(self._sweep)
            if not self._inflight and (self._aborted or not frontier.ready):
                self._resolve(None)
        except BaseException as exc:  # a bug in on_finish: fail the run, never hang it
            self._resolve(exc)
        finally:
            self._draining = False

    def _resolve(self, error: BaseException | None) -> None:
        settled = self._settled
        if settled is not None and not settled.done():
            if error is None:
                settled.set_result(None)
            else:
                settled.set_exception(error)

    def _account(self, name: str, outcome: Outcome, error: BaseException | None) -> None:
        self.outcomes[name] = (outcome, error)
        self._on_finish(name, outcome, error)
        if outcome is not Outcome.DONE and self._fail_fast:
            # Launch nothing more, and cancel what is in flight once the
            # steps already woken in this loop iteration have run: failures
            # that happen at the same moment are all reported as failures.
            self._frontier.finished(name, release=False)
            if not self._aborted:
                self._aborted = True
                self._loop.call_soon(self.abort)
            return
        self._frontier.finished(name)

    def _launch(self, name: str) -> None:
        loop = self._loop
        launched = loop.time()
        self._inflight[name] = _LAUNCHING
        task = new_task(loop, self._run_step(name), f"haraka:{name}")
        if self._inflight.get(name) is not _LAUNCHING:
            return  # an eager step that never had to wait: it has reported already
        self._inflight[name] = task
        if self._aborted:  # the step's own synchronous part aborted the run
            self._cancel(name)
            return
        if not self._set_deadline(name, launched):  # no deadline will ever look at it
            task.add_done_callback(functools.partial(self._ended, name))

    def _launch_direct(self, names: list[str]) -> None:
        """Start direct steps together: their synchronous parts (a Resource's
        init call) run back to back, then each future is watched."""
        launched = self._loop.time()
        inflight = self._inflight
        inflight.update(dict.fromkeys(names, _LAUNCHING))
        try:
            started = self._start_direct(names)  # type: ignore[misc]  # (see run())
        except BaseException as exc:  # a bug in the steps: each fails, none hangs
            started = [exc] * len(names)
        self._watch.append((names, started))  # swept once the drain has launched all
        for name, future in zip(names, started, strict=True):
            if isinstance(future, BaseException):  # (KeyboardInterrupt too: its failure)
                self._report(self._outcome(name, False, future))
                continue
            inflight[name] = future
            if self._aborted:
                # a future whose task has not run yet: cancelled now, its
                # coroutine would never run at all
                self._loop.call_soon(self._cancel, name)
                continue
            self._set_deadline(name, launched)

    def _set_deadline(self, name: str, launched: float) -> bool:
        """Give a step launched at ``launched`` its deadline: its timeout, or
        what hurry() left if that is sooner. False if it has none."""
        timeout = self._timeout_of(name)
        if self._hurried_until is not None:
            left = max(self._hurried_until - launched, 0.0)
            timeout = left if timeout is None else min(timeout, left)
        if timeout is None:
            return False
        self._deadlines.set(name, launched + timeout, self._frontier.rank[name])
        return True

    async def _run_step(self, name: str) -> object:
        # The step's coroutine is made here, so a task cancelled before it ever
        # ran leaves no never-awaited coroutine behind.
        self._begun.add(name)
        try:
            result = await self._step(name)
        except asyncio.CancelledError:
            self._report(self._outcome(name, True, None))
            raise
        except BaseException as exc:
            if self._report(self._outcome(name, False, exc)):
                return None  # the run holds the error now: nothing to retrieve
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                # Raised out of a task, these would tear through the event loop.
                raise Escalated(exc) from exc
            raise  # abandoned: whoever watches abandoned tasks sees it
        self._report(self._outcome(name, False, None))
        return result

    def _sweep(self) -> None:
        """The direct steps launched since the last sweep, one loop iteration
        later: the futures done by now (an init that never waits finishes in
        its task's first step, which ran before this) report together, and
        the run processes them in one drain; the others report through a
        done-callback."""
        watch, self._watch, self._sweep_due = self._watch, [], False
        inflight, cancelled, finished = self._inflight, self._cancelled, self._finished
        drop_deadline = self._deadline_of.pop
        draining, self._draining = self._draining, True
        try:
            for names, started in watch:
                for name, future in zip(names, started, strict=False):  # (checked at launch)
                    if isinstance(future, BaseException):
                        continue  # (reported at launch)
                    if not future.done():
                        future.add_done_callback(functools.partial(self._ended, name))
                    elif (
                        future.cancelled()
                        or future.exception() is not None
                        or name in cancelled
                        or inflight.get(name) is not future
                    ):
                        self._ended(name, future)  # (nothing, if reported already)
                    else:  # the usual end (never cancelled: no grace timer), as _report()
                        del inflight[name]
                        drop_deadline(name, None)
                        finished.append((name, Outcome.DONE, None))
        finally:
            self._draining = draining
        self._kick()

    def _ended(self, name: str, task: asyncio.Future[object]) -> None:
        """A step's end seen from outside: a direct step's future, or a task
        cancelled before its coroutine ran (which cannot report itself)."""
        if self._inflight.get(name) is task:
            cancelled = task.cancelled()
            error = None if cancelled else task.exception()
            self._report(self._outcome(name, cancelled, error))

    def _outcome(
        self, name: str, cancelled: bool, error: BaseException | None
    ) -> tuple[str, Outcome, BaseException | None]:
        if cancelled and name not in self._cancelled:
            # Nothing here cancelled it: the step leaked a CancelledError of
            # its own. That is a failure, not an interrupted step.
            error = asyncio.CancelledError(
                f"{name!r} ended with a CancelledError haraka_di never asked for"
            )
        if name in self._timed_out:
            return name, Outcome.TIMED_OUT, error
        if error is not None:
            return name, Outcome.FAILED, error
        return name, Outcome.CANCELLED if cancelled else Outcome.DONE, None

    def _report(self, finished: tuple[str, Outcome, BaseException | None]) -> bool:
        """Take a step's outcome; False if it was abandoned before it ended."""
        name = finished[0]
        if self._inflight.pop(name, None) is None:
            return False
        self._deadline_of.pop(name, None)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._finished.append(finished)
        self._kick()
        return True

    # -- timeouts (see _deadlines), cancellation, abandonment --------------------

    def _live(self, name: str) -> asyncio.Future[object] | None:
        """``name``'s task (or direct future) if it is still running. One
        already done here is a direct step's future not swept yet, or a task
        cancelled from outside before its coroutine ran (a step that ran has
        reported itself): its end is reported now."""
        task = self._inflight.get(name)
        if task is None or task is _LAUNCHING:
            return None
        if task.done():
            self._ended(name, task)
            return None
        return task

    def _expire(self, name: str) -> None:
        if self._live(name) is None:
            return
        if self._not_begun(name):
            # Cancelled before its first step, its coroutine would never run
            # (a stop would skip shutdown() entirely). Its first step is
            # already queued: let it begin, then expire it.
            self._loop.call_soon(self._expire, name)
        else:
            self._timed_out.add(name)
            self._cancel(name)

    def _not_begun(self, name: str) -> bool:
        """Is ``name`` a task step whose coroutine has not run yet? (A direct
        step is under way from its launch.)"""
        return name not in self._begun and name not in self._direct

    def _cancel(self, name: str) -> None:
        task = self._live(name)
        if task is None or name in self._cancelled:
            return  # (cancelled once already: its grace period is running)
        self._cancelled.add(name)
        task.cancel()
        if self._not_begun(name):
            task.add_done_callback(functools.partial(self._ended, name))
        self._deadline_of.pop(name, None)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._timers[name] = self._loop.call_later(self._grace, self._abandon, name)

    def _abandon(self, name: str) -> None:
        task = self._inflight.pop(name, None)
        if task is None:
            return
        self._timers.pop(name, None)
        self.abandoned[name] = task
        task.add_done_callback(lambda _: self.abandoned.pop(name, None))
        keep_cancelling(self._loop, task, max(min(self._grace, 0.1), 0.01))
        self._finished.append((name, Outcome.ABANDONED, None))
        self._kick()
