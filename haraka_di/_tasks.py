"""Background tasks: supervised, restartable, cancelled before services stop.

Each task has a restart policy:

- ``"never"`` (default): a crash is logged and ends the application (the
  orchestrator shuts down gracefully with exit status 1);
- ``"on-failure"``: a crash is logged and the task restarted after an
  exponential backoff, until it crashes more than ``max_restarts`` times
  within ``window`` seconds; then it is treated like ``"never"``. Pass a
  :class:`RestartPolicy` instead of the string to tune the numbers;
- ``"ignore"``: a crash is logged and the task stays ended.

A task spawned while a service starts (``runtime.spawn`` inside
``startup()``) belongs to that service: its crashes and restarts are
counted in that service's ``report()`` row and its log lines name it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .exceptions import LifecycleError

__all__ = [
    "RESTART_POLICIES",
    "RestartPolicy",
    "Supervisor",
    "TaskReport",
    "current_service",
]

log = logging.getLogger("haraka_di")

RESTART_POLICIES = ("never", "on-failure", "ignore")

TaskFactory = Callable[[], Awaitable[Any]]

#: The service whose startup() is running in this context (set by the
#: orchestrator), so tasks spawned from it are attributed to it.
current_service: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "haraka_di_current_service", default=None
)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """``on-failure`` tuning: the n-th restart within ``window`` seconds
    waits ``backoff * 2**(n-1)`` seconds (at most ``max_backoff``); a crash
    after ``max_restarts`` restarts within ``window`` seconds is final."""

    backoff: float = 0.1
    max_backoff: float = 30.0
    max_restarts: int = 5
    window: float = 60.0

    def __post_init__(self) -> None:
        if not self.backoff >= 0 or not self.max_backoff >= self.backoff:
            raise ValueError(
                f"RestartPolicy needs 0 <= backoff <= max_backoff, got backoff={self.backoff!r}"
                f" max_backoff={self.max_backoff!r}"
            )
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be an integer >= 0, got {self.max_restarts!r}")
        if not self.window > 0:
            raise ValueError(f"window must be a positive number of seconds, got {self.window!r}")

    def delay(self, recent: int) -> float:
        """Seconds to wait before a restart, ``recent`` restarts in the window."""
        return float(min(self.backoff * 2**recent, self.max_backoff))


@dataclass(frozen=True, slots=True)
class TaskReport:
    """One background task: ``state`` is ``pending`` (starts after
    startup), ``running``, ``backoff`` (waiting to restart), ``finished``
    (returned), ``crashed`` (ended by a crash), or ``cancelled``."""

    name: str
    service: str | None
    restart: str
    state: str
    crashes: int
    restarts: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Stats:
    name: str
    service: str | None
    restart: str
    policy: RestartPolicy
    state: str = "pending"
    crashes: int = 0
    restarts: int = 0
    last_error: BaseException | None = None
    restart_times: deque[float] = field(default_factory=deque, repr=False)

    @property
    def label(self) -> str:
        owner = f" of service {self.service!r}" if self.service else ""
        return f"background task {self.name!r}{owner}"

    def report(self) -> TaskReport:
        error = repr(self.last_error) if self.last_error is not None else None
        return TaskReport(
            self.name, self.service, self.restart, self.state, self.crashes, self.restarts, error
        )


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
        self._deferred: list[tuple[TaskFactory, _Stats]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._stats: dict[str, _Stats] = {}

    def add(self, fn: TaskFactory, name: str | None, restart: str | RestartPolicy) -> str:
        """Register ``fn`` to be started by :meth:`start`; returns its name."""
        self._check_callable(fn)
        stats = self._register(name or _label(fn), restart)
        self._deferred.append((fn, stats))
        return stats.name

    def start(self) -> None:
        deferred, self._deferred = self._deferred, []
        for fn, stats in deferred:
            self._launch(fn, stats)

    def spawn(
        self, fn: TaskFactory | Awaitable[Any], name: str | None, restart: str | RestartPolicy
    ) -> asyncio.Task[Any]:
        if self._closing:
            raise LifecycleError("cannot spawn a task: the orchestrator is shutting down")
        if inspect.isawaitable(fn):
            if restart not in ("never", "ignore"):
                raise ValueError(
                    f"restart={restart!r} needs a callable that makes a new "
                    "coroutine each time; pass the function, not a coroutine object"
                )
            awaitable = fn
            stats = self._register(name or _label(awaitable), restart)
            return self._launch(lambda: awaitable, stats)
        self._check_callable(fn)
        return self._launch(fn, self._register(name or _label(fn), restart))

    def reports(self) -> list[TaskReport]:
        """Every task registered so far, in registration order."""
        return [s.report() for s in self._stats.values()]

    def counts(self) -> dict[str, tuple[int, int]]:
        """(crashes, restarts) summed by owner: the service that spawned the
        task, else the task's own name."""
        totals: dict[str, tuple[int, int]] = {}
        for s in self._stats.values():
            key = s.service or s.name
            crashes, restarts = totals.get(key, (0, 0))
            totals[key] = (crashes + s.crashes, restarts + s.restarts)
        return totals

    async def close(self, grace: float) -> None:
        """Cancel every task and wait for them, at most ``grace`` seconds."""
        self._closing = True
        for _, stats in self._deferred:
            stats.state = "cancelled"
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

    # -- internals ---------------------------------------------------------

    def _register(self, name: str, restart: str | RestartPolicy) -> _Stats:
        if isinstance(restart, RestartPolicy):
            policy, restart = restart, "on-failure"
        elif restart in RESTART_POLICIES:
            policy = self.policy
        else:
            raise ValueError(
                f"Unknown restart policy {restart!r}; use one of "
                + ", ".join(repr(p) for p in RESTART_POLICIES)
                + " or a haraka_di.RestartPolicy"
            )
        unique, n = name, 1
        while unique in self._stats:  # two tasks never share a name (or stats)
            n += 1
            unique = f"{name}#{n}"
        stats = _Stats(unique, current_service.get(), restart, policy)
        self._stats[unique] = stats
        return stats

    @staticmethod
    def _check_callable(fn: object) -> None:
        if not callable(fn):
            raise TypeError(f"Background task must be an async callable, got {fn!r}")

    def _launch(self, fn: TaskFactory, stats: _Stats) -> asyncio.Task[Any]:
        stats.state = "running"
        task = asyncio.get_running_loop().create_task(self._supervise(fn, stats), name=stats.name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _supervise(self, fn: TaskFactory, stats: _Stats) -> None:
        while True:
            try:
                result = fn()
                if not inspect.isawaitable(result):
                    raise TypeError(
                        f"{stats.label} must be an async callable; it returned {result!r}"
                    )
                await result
                stats.state = "finished"
                return
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if self._closing or task is None or task.cancelling():
                    stats.state = "cancelled"
                    raise
                error: BaseException = exc  # it leaked its own: nothing cancelled it
            except BaseException as exc:  # a crash, whatever it is, is the task's end
                error = exc
            if not await self._crashed(stats, error):
                return

    async def _crashed(self, stats: _Stats, exc: BaseException) -> bool:
        """Apply the restart policy to a crash; True means run it again."""
        stats.crashes += 1
        stats.last_error = exc
        stats.state = "crashed"
        if self._closing:
            log.error("%s failed while shutting down", stats.label, exc_info=exc)
            return False
        if stats.restart == "ignore":
            log.error("%s crashed (ignored)", stats.label, exc_info=exc)
            return False
        if stats.restart == "never":
            log.error("%s crashed: shutting down", stats.label, exc_info=exc)
            self._on_fatal(stats.name, exc)
            return False
        delay = self._restart_delay(stats)
        if delay is None:
            log.error(
                "%s crashed after %d restart(s) within %.0fs; giving up: shutting down",
                stats.label,
                len(stats.restart_times),
                stats.policy.window,
                exc_info=exc,
            )
            self._on_fatal(stats.name, exc)
            return False
        log.error(
            "%s crashed; restart %d in %.2fs",
            stats.label,
            stats.restarts + 1,
            delay,
            exc_info=exc,
        )
        stats.state = "backoff"
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            stats.state = "cancelled"
            raise
        stats.restarts += 1
        stats.state = "running"
        log.warning("%s restarted (restart %d)", stats.label, stats.restarts)
        return True

    def _restart_delay(self, stats: _Stats) -> float | None:
        """Seconds before the next restart, or None when out of restarts."""
        now = time.monotonic()
        times = stats.restart_times
        while times and now - times[0] > stats.policy.window:
            times.popleft()
        if len(times) >= stats.policy.max_restarts:
            return None
        delay = stats.policy.delay(len(times))
        times.append(now)
        return delay


def _label(fn: object) -> str:
    if inspect.iscoroutine(fn):
        return str(fn.__qualname__)
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))
