"""systemd's notify protocol (``sd_notify``) over ``NOTIFY_SOCKET``.

:class:`SystemdNotifier` is an orchestrator listener: ``STATUS=`` lines while
services start, ``READY=1`` once every service is ready, ``STOPPING=1`` when
shutdown begins. :meth:`SystemdNotifier.watchdog` pings ``WATCHDOG=1`` every
half ``WATCHDOG_USEC`` while the event loop runs. Without ``NOTIFY_SOCKET``
:meth:`SystemdNotifier.from_env` returns None and nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from ._record import STARTED
from ._report import Event, count_nodes
from ._service import LifecycleState, ServiceState

__all__ = ["SystemdNotifier", "notify", "watchdog_interval"]

log = logging.getLogger("haraka_di")


def _address(path: str) -> str | bytes:
    if path.startswith("@"):  # abstract namespace socket
        return b"\0" + path[1:].encode()
    return path


def notify(message: str, socket_path: str) -> bool:
    """Send one datagram (``READY=1``, ``STATUS=...``); False if it failed."""
    if not socket_path or socket_path[0] not in "/@":
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), _address(socket_path))
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", socket_path, exc)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, when the watchdog is for this process."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


_DOWN = (LifecycleState.STOPPING, LifecycleState.DESTROYED)


class SystemdNotifier:
    """Tells systemd how the orchestrator is doing. Subscribe it:
    ``orchestrator.subscribe(notifier)``."""

    def __init__(self, socket_path: str, watchdog: float | None = None) -> None:
        self.socket_path = socket_path
        self.watchdog_every = watchdog
        self.total = 0
        self._kinds: list[str] = []
        self._started: set[str] = set()
        self._ready_sent = False
        self._stopping_sent = False
        self._orchestrator: Any = None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier | None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        if not path:
            return None
        return cls(path, watchdog_interval(env))

    def send(self, *lines: str) -> bool:
        sent = notify("\n".join(lines), self.socket_path)
        if not sent and not self._warned:  # once: the watchdog would repeat it forever
            self._warned = True
            log.warning(
                "cannot notify systemd at NOTIFY_SOCKET=%s (further failures are not logged)",
                self.socket_path,
            )
        return sent

    def bind(self, orchestrator: Any) -> None:
        """Remember the orchestrator (to ask whether all is ready) and how
        many services will start (for the STATUS lines)."""
        self._orchestrator = orchestrator
        try:
            self._kinds = [report.kind for report in orchestrator.report()]
        except Exception:  # planning errors surface from run(), not here
            self._kinds = []
        self.total = len(self._kinds)

    def __call__(self, event: Event) -> None:
        if event.service is None:
            self._lifecycle(event)
            return
        if event.state is ServiceState.STARTING:
            self.send(f"STATUS=Starting {event.service} ({self._progress()})")
        elif event.state in STARTED and event.lifecycle is LifecycleState.STARTING:
            self._started.add(event.service)
            self.send(f"STATUS=Started {event.service} ({self._progress()})")
        elif event.state is ServiceState.STOPPING:
            self.send(f"STATUS=Stopping {event.service}")
        elif event.state is ServiceState.FAILED:
            why = " ".join(str(event.error).split()) if event.error is not None else "unknown"
            self.send(f"STATUS=Service {event.service} failed: {type(event.error).__name__}: {why}")
        if event.ready and event.lifecycle is LifecycleState.RUNNING:
            orchestrator = self._orchestrator
            if orchestrator is not None and orchestrator.is_ready():
                self._send_ready()

    def _progress(self) -> str:
        return f"{len(self._started)}/{self.total or '?'} started"

    def _lifecycle(self, event: Event) -> None:
        if event.lifecycle is LifecycleState.RUNNING:
            if event.ready:
                self._send_ready()
            if not self._ready_sent:
                self.send("STATUS=Started; waiting for services to become ready")
        elif event.lifecycle in _DOWN and not self._stopping_sent:
            self._stopping_sent = True
            self.send("STOPPING=1", "STATUS=Stopping services")

    def _send_ready(self) -> None:
        if self._ready_sent or self._stopping_sent:
            return
        self._ready_sent = True
        kinds = self._kinds or ["Service"] * len(self._started)
        self.send("READY=1", f"STATUS=Running: {count_nodes(kinds, ' ready')}")

    async def watchdog(self) -> None:
        """Ping ``WATCHDOG=1`` every half ``WATCHDOG_USEC`` until cancelled."""
        interval = self.watchdog_every
        if interval is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)
