"""Background tasks: supervised, restartable, cancelled before services stop."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RESTART_POLICIES", "RestartPolicy", "Supervisor", "TaskStats"]

log = logging.getLogger("haraka_di")

RESTART_POLICIES = ("never", "on-failure", "ignore")

TaskFactory = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """``on-failure`` tuning: exponential backoff from ``backoff`` seconds
    (doubling, capped at ``max_backoff``); after ``max_restarts`` restarts
    within ``window`` seconds the crash is treated like ``never``."""

    backoff: float = 0.1
    max_backoff: float = 30.0
    max_restarts: int = 5
    window: float = 60.0


@dataclass(slots=True)
class TaskStats:
    name: str
    restart: str
    crashes: int = 0
    restarts: int = 0
    last_error: BaseException | None = None
    _restart_times: deque[float] = field(default_factory=deque, repr=False)


class Supervisor:
    """Runs background tasks and applies their restart policy on a crash.

    ``on_fatal(name, error)`` is called when a crash should end the
    application (policy ``never``, or ``on-failure`` out of restarts).
    """

    def __init__(
        self,
        on_fatal: Callable[[str, BaseException], None],
        policy: RestartPolicy | None = None,
    ) -> None:
        self._on_fatal = on_fatal
        self.policy = policy or RestartPolicy()
        self._deferred: list[tuple[TaskFactory, str, str]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.stats: dict[str, TaskStats] = {}

    def add(self, fn: TaskFactory, name: str | None, restart: str) -> None:
        """Register ``fn`` to be started by :meth:`start`."""
        label = self._check(fn, name, restart)
        self._deferred.append((fn, label, restart))

    def start(self) -> None:
        deferred, self._deferred = self._deferred, []
        for fn, label, restart in deferred:
            self._launch(fn, label, restart)

    def spawn(
        self, fn: TaskFactory | Awaitable[Any], name: str | None, restart: str
    ) -> asyncio.Task[Any]:
        if self._closing:
            raise RuntimeError("cannot spawn a task: the orchestrator is shutting down")
        if inspect.isawaitable(fn):
            if restart != "never" and restart != "ignore":
                raise ValueError(
                    f"restart={restart!r} needs a callable that makes a new "
                    "coroutine each time; pass the function, not a coroutine object"
                )
            awaitable = fn
            label = name or _label(awaitable)
            self._check(None, label, restart)
            return self._launch(lambda: awaitable, label, restart)
        label = self._check(fn, name, restart)
        return self._launch(fn, label, restart)

    async def close(self, grace: float) -> None:
        """Cancel every task and wait for them, at most ``grace`` seconds."""
        self._closing = True
        self._deferred.clear()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.error(
                    "background task %r ignored its cancellation for %.1fs; left behind",
                    task.get_name(),
                    grace,
                )

    def _check(self, fn: object, name: str | None, restart: str) -> str:
        if restart not in RESTART_POLICIES:
            raise ValueError(
                f"Unknown restart policy {restart!r}; use one of "
                + ", ".join(repr(p) for p in RESTART_POLICIES)
            )
        if fn is not None and not callable(fn):
            raise TypeError(f"Background task must be an async callable, got {fn!r}")
        return name or _label(fn)

    def _launch(self, fn: TaskFactory, label: str, restart: str) -> asyncio.Task[Any]:
        stats = self.stats.setdefault(label, TaskStats(label, restart))
        task = asyncio.get_running_loop().create_task(self._supervise(fn, stats), name=label)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _supervise(self, fn: TaskFactory, stats: TaskStats) -> None:
        delay = self.policy.backoff
        while True:
            try:
                await fn()
                return
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # a crash, whatever it is, is the task's end
                stats.crashes += 1
                stats.last_error = exc
                if self._closing:
                    return
                if stats.restart == "ignore":
                    log.error("background task %r crashed (ignored)", stats.name, exc_info=exc)
                    return
                if stats.restart == "on-failure" and self._may_restart(stats):
                    log.error(
                        "background task %r crashed; restart %d in %.2fs",
                        stats.name,
                        stats.restarts + 1,
                        delay,
                        exc_info=exc,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.policy.max_backoff)
                    stats.restarts += 1
                    continue
                log.error("background task %r crashed", stats.name, exc_info=exc)
                self._on_fatal(stats.name, exc)
                return

    def _may_restart(self, stats: TaskStats) -> bool:
        now = time.monotonic()
        times = stats._restart_times
        while times and now - times[0] > self.policy.window:
            times.popleft()
        if len(times) >= self.policy.max_restarts:
            return False
        times.append(now)
        return True


def _label(fn: object) -> str:
    if inspect.iscoroutine(fn):
        return str(fn.__qualname__)
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))
