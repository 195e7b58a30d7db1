"""How ``haraka run`` runs its event loop and leaves the process, so that the
process exits with the status it logged, whatever happens on the way out.

:func:`run_to_exit` is :func:`asyncio.run` with two differences:

- **Nothing left behind can hold the exit.** ``asyncio.run`` ends by
  cancelling every task still pending and waiting for all of them, without
  a limit: one task that swallows every cancellation (an abandoned
  ``startup()``) keeps the process alive for ever. Here the leftovers get
  ``grace`` seconds (the orchestrator's ``cancel_grace``) to end after
  their cancellation; those that do not are named in one WARNING line and
  left behind, and the loop is closed anyway. Async generators and the
  default executor get the same bounded wait.
- **A late signal changes nothing.** Once the orchestrator has run, the
  SIGINT/SIGTERM handlers it put back are this module's
  :class:`LateSignals`, which logs a signal and ignores it; at interpreter
  exit (``atexit``) the two signals are set to ``SIG_IGN``, which also
  covers the last part of the teardown, after Python stops running
  signal handlers (it resets handlers of its own, not an ignored signal).
  Before the orchestrator takes the signals they do what they did before.

A program that calls ``asyncio.run(orchestrator.serve())`` itself keeps
``asyncio.run``'s behaviour on both counts (see docs/failures.md, Limits).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
from collections.abc import Coroutine
from types import FrameType
from typing import Any, Protocol

from .._service import LifecycleState
from .._signals import SIGNALS

__all__ = ["LateSignals", "run_to_exit"]

log = logging.getLogger("haraka_di")


class _Orchestrator(Protocol):
    @property
    def state(self) -> LifecycleState: ...

    handle_signals: bool
    cancel_grace: float


def run_to_exit(main: Coroutine[Any, Any, int], orchestrator: _Orchestrator) -> int:
    """Run ``main`` (which runs ``orchestrator``) on a new event loop and
    return its status; the loop is closed, within ``cancel_grace`` of the
    end, whatever ``main`` left pending. Exceptions from ``main`` propagate
    after the loop is closed."""
    if orchestrator.handle_signals:
        LateSignals(orchestrator).install()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _finish(loop, orchestrator.cancel_grace)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _finish(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    """Cancel what is left, wait ``grace`` for it, then the async generators
    and the executor likewise; name what would not end."""
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.wait(left, timeout=max(grace, 0.01)))
    behind = [task for task in left if not task.done()]
    if behind:
        names = ", ".join(sorted(repr(task.get_name()) for task in behind))
        log.warning(
            "%d task(s) ignored their cancellation for %.1fs and are left behind: %s; "
            "exiting anyway",
            len(behind),
            grace,
            names,
        )
        _quiet_about(loop, {id(task) for task in behind})
    for task in left:
        if task.done() and not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception in a task left at exit",
                    "exception": task.exception(),
                    "task": task,
                }
            )
    for cleanup, what in (
        (loop.shutdown_asyncgens, "async generators"),
        (loop.shutdown_default_executor, "the default executor's threads"),
    ):
        done, _ = loop.run_until_complete(
            asyncio.wait({loop.create_task(cleanup())}, timeout=max(grace, 0.01))
        )
        if not done:
            log.warning("%s did not finish within %.1fs: exiting anyway", what, grace)


def _quiet_about(loop: asyncio.AbstractEventLoop, ids: set[int]) -> None:
    """The tasks named as left behind are not reported again when they are
    garbage-collected ("Task was destroyed but it is pending!")."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if id(context.get("task")) in ids and "destroyed but it is pending" in str(
            context.get("message")
        ):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


class LateSignals:
    """The SIGINT/SIGTERM handler ``haraka run`` installs before the
    orchestrator takes the signals (so the orchestrator puts it back when
    its run ends).

    Reached before the run (the orchestrator still CREATED), a signal does
    what it did before: SIGINT raises KeyboardInterrupt, SIGTERM ends the
    process. Reached afterwards - the run is over and the process is on its
    way out - it is logged and ignored, so the exit status stays the one
    logged. The orchestrator must handle signals (``handle_signals=True``):
    otherwise this would swallow every signal of the run.
    """

    _ignored_at_exit = False

    def __init__(self, orchestrator: _Orchestrator) -> None:
        self.orchestrator = orchestrator
        self.previous: dict[signal.Signals, Any] = {}

    def install(self) -> None:
        for sig in SIGNALS:
            self.previous[sig] = signal.signal(sig, self)
        if not LateSignals._ignored_at_exit:
            LateSignals._ignored_at_exit = True
            atexit.register(_ignore_for_good)

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self.orchestrator.state is not LifecycleState.CREATED:
            log.warning("received %s after the run ended: ignored (exiting)", sig.name)
            return
        previous = self.previous.get(sig)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # SIG_DFL (or unknown): what the default would do
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)


def _ignore_for_good() -> None:
    """At interpreter exit, after ``haraka run``: SIGINT/SIGTERM can no longer
    change the exit status (Python keeps SIG_IGN through its teardown)."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
