"""``haraka run --reload``: run the command in a child process and start a
fresh one whenever a watched file changes (development only).

The supervisor (this module, in the process the terminal started) watches
the files with watchfiles, the watcher uvicorn's ``--reload`` uses, and owns
the terminal's signals: the child runs in its own process group, so Ctrl-C
reaches the supervisor only.

- On a change: the child is sent SIGTERM and waited for (its services stop
  in reverse order, as in any ``haraka run``), then the same command starts
  in a new child. Both show on the console, with the files that changed.
- SIGINT/SIGTERM: the supervisor sends the same signal to the child (or,
  during a reload's stop, lets that stop finish and starts nothing), waits
  for it, and exits with its status (128+N if a signal N killed it). A
  second signal while the child stops is passed on, which forces the
  child's stop, as a second signal does in any ``haraka run``.
- A child that exits by itself (a failed start, a crash) is reported; the
  next change starts it again.

The child runs the very same command line, told by the environment variable
``HARAKA_RELOAD_CHILD=1`` to run the services rather than supervise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

__all__ = ["CHILD_ENV", "ReloadError", "add_options", "reloading", "supervise"]

log = logging.getLogger("haraka_di.reload")

CHILD_ENV = "HARAKA_RELOAD_CHILD"
INCLUDE = ("*.py", "*.yaml", "*.yml")
EXCLUDE = (".*", "__pycache__", "*.py[cod]", "*~", "node_modules", "venv", "site-packages")
_INSTALL = 'pip install "haraka_di[reload]" (or: pip install watchfiles)'


class ReloadError(Exception):
    """``--reload`` cannot run: the message says why and what to do."""


def add_options(run: argparse.ArgumentParser) -> None:
    """Add ``--reload`` and its options to the ``haraka run`` parser."""
    run.add_argument(
        "--reload",
        action="store_true",
        help="development: run the services in a child process and restart it when a file "
        "under the app directory or the --config file changes (needs watchfiles: pip install "
        '"haraka_di[reload]")',
    )
    run.add_argument(
        "--reload-dir",
        dest="reload_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="with --reload: a directory to watch (repeatable; default: the --app-dir)",
    )
    run.add_argument(
        "--reload-include",
        dest="reload_includes",
        action="append",
        default=[],
        metavar="GLOB",
        help="with --reload: also watch files whose name (or path under a watched "
        f"directory) matches GLOB (repeatable; always: {', '.join(INCLUDE)})",
    )
    run.add_argument(
        "--reload-exclude",
        dest="reload_excludes",
        action="append",
        default=[],
        metavar="GLOB",
        help="with --reload: ignore files and directories whose name matches GLOB; it wins "
        f"over an include (repeatable; always: {', '.join(EXCLUDE)})",
    )


def reloading(args: argparse.Namespace) -> bool:
    """Is this ``haraka run`` the supervisor of a ``--reload``? (The child is not.)"""
    given = args.reload_dirs or args.reload_includes or args.reload_excludes
    if given and not args.reload:
        raise ReloadError(
            "--reload-dir, --reload-include and --reload-exclude only apply with --reload; "
            "add --reload, or leave them out"
        )
    return bool(args.reload) and os.environ.get(CHILD_ENV) != "1"


def supervise(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run ``haraka ARGV`` in a child, restarting it on changes, until signalled.

    Returns the last child's exit status; raises :class:`ReloadError` before
    starting anything if watchfiles is missing or a directory does not exist.
    """
    try:
        import watchfiles  # noqa: F401  (the optional dependency)
    except ImportError:
        raise ReloadError(f"--reload needs the watchfiles package: {_INSTALL}") from None
    dirs = [Path(d).resolve() for d in (args.reload_dirs or [args.app_dir])]
    for directory in dirs:
        if not directory.is_dir():
            raise ReloadError(f"--reload-dir {directory}: no such directory")
    config = Path(args.config).resolve() if args.config else None
    watched = _Filter(
        dirs, [*INCLUDE, *args.reload_includes], [*EXCLUDE, *args.reload_excludes], config
    )
    if not args.verbose:  # watchfiles logs each batch; the supervisor says which files
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
    return asyncio.run(_Supervisor(list(argv), watched).run())


class _Filter:
    """watchfiles' filter: a file counts if no part of its path under a watched
    directory matches an exclude glob and its name or that path matches an
    include glob; the ``--config`` file always counts."""

    def __init__(
        self, dirs: list[Path], include: list[str], exclude: list[str], config: Path | None
    ) -> None:
        self.dirs, self.include, self.exclude, self.config = dirs, include, exclude, config
        self.paths = [*dirs]
        if config is not None and not any(config.is_relative_to(d) for d in dirs):
            self.paths.append(config)  # outside the watched directories: watch it too

    def __call__(self, change: Any, path: str) -> bool:
        file = Path(path)
        if file == self.config:
            return True
        root = next((d for d in self.dirs if file.is_relative_to(d)), file.parent)
        relative = file.relative_to(root)
        if any(fnmatch(part, glob) for part in relative.parts for glob in self.exclude):
            return False
        return any(fnmatch(file.name, g) or fnmatch(relative.as_posix(), g) for g in self.include)

    def describe(self) -> str:
        where = ", ".join(str(p) for p in self.paths)
        return f"{where} ({', '.join(self.include)}; not {', '.join(self.exclude)})"


class _Supervisor:
    def __init__(self, argv: list[str], watched: _Filter) -> None:
        self.argv = argv
        self.watched = watched
        self.child: asyncio.subprocess.Process | None = None
        self.status = 0  # of the last child that exited
        self.stopping = False  # a signal now is passed on: the child forces its stop
        self.stop = asyncio.Event()
        self.signals: list[signal.Signals] = []
        self._reaper: asyncio.Future[None] | None = None

    async def run(self) -> int:
        from watchfiles import awatch

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        changes = awatch(*self.watched.paths, watch_filter=self.watched, stop_event=self.stop)
        pending = asyncio.ensure_future(anext(changes))
        try:
            # The first step of awatch() registers the watches, then waits in
            # a thread: after this one loop pass no change is missed.
            await asyncio.sleep(0)
            log.info("watching %s: a change restarts the services", self.watched.describe())
            await self._start()
            while True:
                await asyncio.wait({pending})
                if self.stop.is_set() or _failed(pending) is not None:
                    break
                await self._restart(sorted(path for _, path in pending.result()))
                if self.stop.is_set():
                    break
                pending = asyncio.ensure_future(anext(changes))
            await self._stop_child(self.signals[0] if self.signals else signal.SIGTERM)
        finally:
            self.stop.set()  # ends the watching thread
            await asyncio.wait({pending})
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self._kill_leftover()
            await changes.aclose()
        error = _failed(pending)
        if error is not None and not isinstance(error, StopAsyncIteration):
            raise ReloadError(
                f"watching for changes failed: {error!r} (the child was stopped); "
                "on a file system without change events, set WATCHFILES_FORCE_POLLING=1"
            ) from error
        log.info("exiting with status %d", self.status)
        return self.status

    def _on_signal(self, sig: signal.Signals) -> None:
        self.signals.append(sig)
        child = self.child
        if len(self.signals) == 1:  # graceful: stop the child (or let its reload stop end)
            log.warning("received %s: stopping the child, then exiting", sig.name)
        elif self.stopping and child is not None and child.returncode is None:
            log.warning("received %s while the child stops: passing it on", sig.name)
            child.send_signal(sig)  # its second signal: it forces its stop
        self.stop.set()

    async def _start(self) -> None:
        env = {**os.environ, CHILD_ENV: "1"}
        self.child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "haraka_di", *self.argv, env=env, process_group=0
        )
        log.info("started pid %d: haraka %s", self.child.pid, shlex.join(self.argv))
        self._reaper = asyncio.ensure_future(self._reap(self.child))

    async def _reap(self, child: asyncio.subprocess.Process) -> None:
        self.status = _status(await child.wait())
        if not self.stopping and not self.stop.is_set():
            log.warning(
                "pid %d exited with status %d; a change starts it again", child.pid, self.status
            )

    async def _restart(self, changed: list[str]) -> None:
        shown = ", ".join(_short(p) for p in changed[:5]) + (", ..." if len(changed) > 5 else "")
        log.info("%d file(s) changed (%s): restarting", len(changed), shown)
        await self._stop_child(signal.SIGTERM)
        if not self.stop.is_set():
            await self._start()

    async def _stop_child(self, sig: signal.Signals) -> None:
        child = self.child
        if child is None or child.returncode is not None:
            return
        self.stopping = True
        try:
            log.info("stopping pid %d (%s) ...", child.pid, sig.name)
            child.send_signal(sig)
            self.status = _status(await child.wait())
            log.info("pid %d stopped with status %d", child.pid, self.status)
        finally:
            self.stopping = False

    async def _kill_leftover(self) -> None:
        child = self.child
        if child is not None and child.returncode is None:  # the supervisor failed
            log.error("killing pid %d, left running by an error in the supervisor", child.pid)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()


def _failed(future: asyncio.Future[Any]) -> BaseException | None:
    """What ended a done future other than a result (StopAsyncIteration: the watch ended)."""
    return asyncio.CancelledError() if future.cancelled() else future.exception()


def _status(returncode: int) -> int:
    """A child's exit status as a shell shows it: 128+N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def _short(path: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(Path.cwd()))
    return path
