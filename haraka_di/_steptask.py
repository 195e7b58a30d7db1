"""The task a scheduler step runs in: how it is made (eagerly started on
Python 3.12+, a custom task factory respected), how a KeyboardInterrupt or
SystemExit gets out of it without tearing through the event loop, and how
a task that swallows its cancellation is cancelled again until it ends."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["Escalated", "keep_cancelling", "new_task"]


def keep_cancelling(
    loop: asyncio.AbstractEventLoop, task: asyncio.Future[Any], every: float
) -> None:
    """Level-triggered cancellation, as in anyio and trio: a task that
    swallowed its cancellation is cancelled again, every ``every`` seconds,
    until it ends (so an event loop can still close after it)."""
    if not task.done():
        task.cancel()
        loop.call_later(every, keep_cancelling, loop, task, every)


class Escalated(Exception):
    """Carries a KeyboardInterrupt/SystemExit out of a step as a failure
    instead of letting it tear through the event loop."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def new_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, object], name: str
) -> asyncio.Task[object]:
    """A task for one step; on Python 3.12+ an eagerly started one (it runs
    up to its first real wait at once, so a step that never waits costs no
    loop round trip). A custom task factory is respected."""
    if loop.get_task_factory() is None:
        return asyncio.Task(coro, loop=loop, name=name, **_EAGER)
    return loop.create_task(coro, name=name)


_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}
