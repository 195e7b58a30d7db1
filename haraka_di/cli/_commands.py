"""The ``haraka`` command's argument parsing and its three commands.

- ``haraka run TARGET [--config FILE] [--set KEY=VALUE ...] [--reload ...]``: run
  the services until SIGINT/SIGTERM, then stop them in reverse order
  (``--reload``: in a child restarted on file changes, see ``_reload``).
- ``haraka graph TARGET [--format text|mermaid|dot|json]``: print the graph.
- ``haraka check TARGET [--config FILE]``: validate without starting anything.

TARGET is ``module:attr`` naming a container class, a container instance, or
a zero-argument factory returning one. Exit statuses: 0 success; 1 a startup
failure, a planning error or (check) any problem found; 2 bad usage (bad
TARGET, bad option, or - for run and graph - a bad configuration file);
128+signum when a second signal forced the shutdown, or a signal interrupted
the startup. ``run`` exits with the status it logged: a task left pending
cannot hold the exit, and a signal after the run is logged and ignored (see
``_runner``; after ``main(["run", ...])`` returns, SIGINT/SIGTERM stay so
until the process exits).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from .._logs import install, plan_line
from .._report import Event
from .._service import LifecycleState
from .._systemd import SystemdNotifier
from ..exceptions import ConfigError, HarakaError, StartupError, TargetError
from . import _reload as reload
from ._build import build_orchestrator, check_configuration
from ._config import Settings, load_config
from ._progress import Progress, StartedFilter, count_nodes, node_kinds, timeline
from ._render import FORMATS, render
from ._runner import run_to_exit
from ._target import load_target

__all__ = ["main"]

log = logging.getLogger("haraka_di")

USAGE_ERROR = 2


class _Fail(Exception):
    """Stop the command: print ``message`` as one line, exit ``status``."""

    def __init__(self, message: str, status: int, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="haraka",
        description="Run, inspect and check the services of a dependency-injector container.",
        epilog="example: haraka run containers.app:Application --config containers/app.yaml",
    )
    parser.add_argument("--version", action="version", version=f"haraka {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=_EXIT_STATUSES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("target", metavar="TARGET", help="module:attr naming the container")
        sub.add_argument("-c", "--config", metavar="FILE", help="YAML configuration file")
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY.PATH=VALUE",
            help="override a key of the configuration, e.g. config.server.port=8123 "
            "(repeatable; the value is parsed as YAML)",
        )
        sub.add_argument(
            "--app-dir",
            default=".",
            metavar="DIR",
            help="directory put first on sys.path to import TARGET (default: .)",
        )
        sub.add_argument(
            "-v", "--verbose", action="store_true", help="debug logging and tracebacks"
        )
        return sub

    run = common("run", "Run the services until SIGINT/SIGTERM, then stop them in reverse order.")
    reload.add_options(run)
    graph = common("graph", "Print the graph of services and Resources: priorities, start waves.")
    graph.add_argument(
        "-f",
        "--format",
        choices=list(FORMATS),
        default="text",
        help="output format: text for people, mermaid or dot for diagrams (edges point "
        "from a dependency to its dependent), json for tools (default: %(default)s)",
    )
    common("check", "Validate the container and configuration without starting anything.")
    return parser


_EXIT_STATUSES = {
    "run": "exit status: 0 after a clean signalled shutdown; 1 if startup failed; 2 for a bad\n"
    "TARGET or configuration; 128+signum after a forced stop or an interrupted startup",
    "graph": "exit status: 0; 1 for a planning error; 2 for a bad TARGET or configuration",
    "check": "exit status: 0 with one summary line; 1 if any problem was found; 2 for a bad\n"
    "TARGET",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``haraka`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv  # what run --reload runs again in its child
    _setup_logging(args.verbose)
    command = {"run": _run, "graph": _graph, "check": _check}[args.command]
    try:
        return command(args)
    except _Fail as exc:
        if args.verbose and exc.cause is not None:
            traceback.print_exception(exc.cause, file=sys.stderr)
        print(f"haraka {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:  # a Ctrl-C before the orchestrator owned the signals
        print(f"haraka {args.command}: interrupted", file=sys.stderr)
        return 130


def _setup_logging(verbose: bool) -> None:
    # haraka's one format on the root logger; a UvicornService's logs join it
    install(logging.DEBUG if verbose else logging.INFO, [StartedFilter()])
    if not verbose:  # asyncio's debug chatter is noise for operators
        logging.getLogger("asyncio").setLevel(logging.WARNING)


def _prepare(args: argparse.Namespace, config_status: int) -> tuple[Any, Settings]:
    """TARGET and configuration -> (orchestrator, settings), or _Fail."""
    try:
        container = load_target(args.target, args.app_dir)
    except TargetError as exc:
        raise _Fail(str(exc), USAGE_ERROR, exc.__cause__ or exc) from None
    try:
        settings = load_config(args.config, args.overrides)
        orchestrator = build_orchestrator(container, settings)
    except ConfigError as exc:
        raise _Fail(str(exc), config_status, exc) from None
    return orchestrator, settings


def _plan(orchestrator: Any) -> Any:
    try:
        return orchestrator.plan()
    except HarakaError as exc:
        raise _Fail(str(exc), 1, exc) from None


# -- run ---------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    try:
        if reload.reloading(args):  # supervise: run this command in a child, restart it
            return reload.supervise(args, args.argv)
    except reload.ReloadError as exc:
        raise _Fail(str(exc), USAGE_ERROR, exc) from None
    orchestrator, _ = _prepare(args, USAGE_ERROR)
    plan = _plan(orchestrator)
    progress = Progress(orchestrator)
    orchestrator.subscribe(progress)

    def on_running(event: Event) -> None:
        if event.service is None and event.lifecycle is LifecycleState.RUNNING:
            sys.stderr.write(timeline(orchestrator.report()) + "\n")
            sys.stderr.flush()
            log.info("running %s (pid %d): Ctrl-C or SIGTERM stops it", args.target, os.getpid())

    orchestrator.subscribe(on_running)
    notifier = SystemdNotifier.from_env()
    if notifier is not None:
        notifier.bind(orchestrator)
        orchestrator.subscribe(notifier)
    nothing = _nothing_to_run(args.target, orchestrator, plan)
    if nothing is not None:
        log.warning("%s", nothing)
    log.info("%s", plan_line(plan, progress.kinds))
    return run_to_exit(_serve(orchestrator, notifier), orchestrator)


async def _serve(orchestrator: Any, notifier: SystemdNotifier | None) -> int:
    watchdog = None
    if notifier is not None and notifier.watchdog_every is not None:
        watchdog = asyncio.create_task(notifier.watchdog(), name="haraka:watchdog")
    try:
        status: int = await orchestrator.serve()
    except StartupError as exc:
        status = orchestrator.exit_code or 1
        raise _Fail(str(exc), status, exc) from None
    except HarakaError as exc:  # planning errors found when run() re-plans
        raise _Fail(str(exc), 1, exc) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
    log.info("exiting with status %d", status)
    return status


# -- graph and check -----------------------------------------------------------------


def _graph(args: argparse.Namespace) -> int:
    orchestrator, settings = _prepare(args, USAGE_ERROR)
    plan = _plan(orchestrator)
    specs = orchestrator.graph().services
    classes = {s.name: s.label for s in specs}
    kinds = {s.name: s.kind for s in specs}
    disabled = [n for n, o in settings.services.items() if o.get("enabled") is False]
    print(render(plan, args.format, classes, disabled, kinds))
    return 0


def _nothing_to_run(target: str, orchestrator: Any, plan: Any) -> str | None:
    """The one-line warning for a plan without nodes, or None."""
    if len(plan):
        return None
    found = len(orchestrator.graph().services)
    if found:
        return (
            f"{target}: all {found} node(s) are disabled (services.NAME.enabled: false): "
            "nothing to run; enable one in the configuration"
        )
    return (
        f"{target} has no lifecycle nodes (no Service providers and no providers.Resource): "
        "nothing to run; declare them in the container, or point TARGET at the container "
        "that does"
    )


def _check(args: argparse.Namespace) -> int:
    try:
        container = load_target(args.target, args.app_dir)
    except TargetError as exc:
        raise _Fail(str(exc), USAGE_ERROR, exc.__cause__ or exc) from None
    # every problem of the file, the schema and services:, not just the first
    orchestrator, settings, found = check_configuration(container, args.config, args.overrides)
    problems = [str(problem) for problem in found]
    if orchestrator is not None:
        graph = orchestrator.graph()
        for path in graph.undefined:
            problems.append(
                f"undefined dependency {path!r}: a providers.Dependency with no default and "
                "no override; give it a default, or override it before running"
            )
        try:
            plan = orchestrator.plan()
        except HarakaError as exc:
            problems.append(str(exc))
    for problem in problems:
        print(f"haraka check: error: {problem}", file=sys.stderr)
    if problems:
        print(f"{args.target}: {len(problems)} problem(s) found", file=sys.stderr)
        return 1
    nothing = _nothing_to_run(args.target, orchestrator, plan)
    if nothing is not None:
        print(f"haraka check: warning: {nothing}", file=sys.stderr)
    source = f"; config {settings.source}" if settings.source else ""
    print(
        f"OK: {args.target}: {count_nodes(node_kinds(orchestrator))}, "
        f"{plan.edge_count} dependency edge(s), {len(plan.waves())} wave(s){source}"
    )
    return 0
