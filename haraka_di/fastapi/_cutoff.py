"""Cutting requests short cleanly when a forced stop cannot wait for them.

:class:`Cutoff` is the ASGI middleware a :class:`UvicornService` puts between
uvicorn and the app. It passes everything through and keeps a list of the
requests in flight. :meth:`Cutoff.cut` (a forced stop) cancels each of them,
and each one ends right where it was cancelled:

- an HTTP request whose response has not started gets a ``503 Service
  Unavailable`` (``Connection: close``, ``Retry-After: 1``): the client knows
  nothing was answered and may retry elsewhere;
- one whose response had started cannot be answered any more: the app
  returns, uvicorn closes the connection (the client sees the response cut
  short, and uvicorn logs one line, ``ASGI callable returned without
  completing response``);
- a WebSocket is closed with code 1012 (service restart).

Without it, uvicorn gets the cancellation from the app: it logs a ~50-line
``CancelledError`` traceback ("Exception in ASGI application") per request
and answers 500, as if the app had failed.

Only the cancellation :meth:`cut` asked for is absorbed; any other one (the
event loop closing, a timeout of the app's own) propagates as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["Cutoff"]

log = logging.getLogger("haraka_di")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_BODY = b"Service Unavailable: the server is shutting down; retry\n"
_UNAVAILABLE: list[Message] = [
    {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(_BODY)).encode()),
            (b"connection", b"close"),
            (b"retry-after", b"1"),
        ],
    },
    {"type": "http.response.body", "body": _BODY, "more_body": False},
]
_RESTART = {"type": "websocket.close", "code": 1012, "reason": "server shutting down"}


class Cutoff:
    """ASGI middleware: ``Cutoff(app)``; :meth:`cut` ends the requests in flight."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._inflight: dict[asyncio.Task[Any], list[bool]] = {}  # -> [response started]
        self._cut: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] not in ("http", "websocket") or task is None:
            await self.app(scope, receive, send)
            return
        started = [False]

        async def tracked(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.close"):
                started[0] = True
            await send(message)

        self._inflight[task] = started
        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if task not in self._cut:
                raise
            task.uncancel()
            if task.cancelling():  # cancelled by someone else as well: theirs wins
                raise
            await self._answer(scope, started[0], send)
        finally:
            self._inflight.pop(task, None)
            self._cut.discard(task)

    def cut(self) -> int:
        """Cancel every request in flight; each ends as the module says.
        Returns how many there were."""
        count = 0
        for task in list(self._inflight):
            if not task.done() and task not in self._cut:
                self._cut.add(task)
                task.cancel()
                count += 1
        return count

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        """The tasks of the requests in flight."""
        return set(self._inflight)

    async def _answer(self, scope: Scope, started: bool, send: Send) -> None:
        if started:  # HTTP: uvicorn closes the connection; a WebSocket: closed already
            return
        messages = _UNAVAILABLE if scope["type"] == "http" else [_RESTART]
        try:
            for message in messages:
                await send(message)
        except Exception as exc:  # the client is gone, or the socket: nothing to tell
            log.debug("could not answer a request cut short: %r", exc)
