"""haraka's log output: its one line format, the plan line, and the bridge
into an ASGI server's logging.

- ``haraka run`` installs haraka's format on the root logger
  (:func:`install`); while it is installed (:func:`owns_logging`), a
  ``UvicornService`` lets uvicorn's loggers propagate to it instead of
  installing uvicorn's own format, so the console shows one format.
- Under an ASGI server that configured its own logging (``uvicorn main:app``
  drives a FastAPI ``lifespan()``), :func:`server_logging` forwards the
  ``haraka_di`` loggers to the server's ``uvicorn.error`` logger, at its
  level, when nothing else handles them, so the lifespan user sees the
  startup (plan, started lines, timeline) in uvicorn's format, each line
  naming its logger (``INFO:     haraka_di: started db in 1.2 ms``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ._report import count_nodes

__all__ = ["FORMAT", "install", "owns_logging", "plan_line", "server_logging"]

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"
SERVER_LOGGER = "uvicorn.error"

_installed: list[logging.Handler] = []  # the handler install() put on the root logger


def install(level: int, filters: Iterable[logging.Filter] = ()) -> logging.Handler:
    """Put haraka's format on the root logger (stderr) at ``level``; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    for item in filters:
        handler.addFilter(item)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _installed.append(handler)
    return handler


def owns_logging() -> bool:
    """Is haraka's format (from :func:`install`) on the root logger?"""
    handlers = logging.getLogger().handlers
    return any(handler in handlers for handler in _installed)


def plan_line(plan: Any, kinds: Iterable[str]) -> str:
    """``starting 4 service(s) in 3 wave(s): a, b, c`` (``4 node(s) (3
    service(s), 1 resource(s))`` with Resources): what is about to start.
    ``kinds`` are the nodes' kinds (``ServiceReport.kind``)."""
    names = f": {', '.join(plan.order)}" if plan.order else ""
    return f"starting {count_nodes(kinds)} in {len(plan.waves())} wave(s){names}"


class _Forward(logging.Handler):
    """Hands each record to another logger's handlers (its format, its
    streams), its message prefixed with the logger's name (uvicorn's format
    shows none): ``INFO:     haraka_di: started db in 1.2 ms``."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target
        self.users = 0
        self.set_level = False  # did it set the haraka_di logger's level?

    def emit(self, record: logging.LogRecord) -> None:
        named = logging.makeLogRecord(record.__dict__)
        named.msg, named.args = f"{record.name}: {record.getMessage()}", None
        self.target.handle(named)


_bridge: list[_Forward] = []  # the one bridge open, shared by nested and concurrent runs


@contextmanager
def server_logging() -> Iterator[bool]:
    """While open, ``haraka_di`` records go to the ``uvicorn.error`` logger's
    handlers, if the ``haraka_di`` logger has no handler of its own (nor
    through its ancestors: the application configured no logging) and that
    logger has one (uvicorn configured its logging). Yields whether it forwards.

    The ``haraka_di`` logger's level follows ``uvicorn.error``'s (uvicorn's
    ``--log-level``) while forwarding, unless the application set one.
    Nested and concurrent uses share one bridge; the last to close removes it.
    """
    ours = logging.getLogger("haraka_di")
    if not _bridge:
        server = logging.getLogger(SERVER_LOGGER)
        if ours.hasHandlers() or not server.hasHandlers():
            yield False
            return
        bridge = _Forward(server)
        ours.addHandler(bridge)
        if ours.level == logging.NOTSET:
            ours.setLevel(server.getEffectiveLevel())
            bridge.set_level = True
        _bridge.append(bridge)
    bridge = _bridge[0]
    bridge.users += 1
    try:
        yield True
    finally:
        bridge.users -= 1
        if not bridge.users:
            _bridge.clear()
            ours.removeHandler(bridge)
            if bridge.set_level:
                ours.setLevel(logging.NOTSET)
