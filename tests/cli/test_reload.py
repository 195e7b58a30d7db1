"""``haraka run --reload`` with real file changes in a real supervisor and
child processes: a change stops the child in order and starts a fresh one;
the supervisor owns the signals and exits with the child's status."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from haraka_di.cli._reload import EXCLUDE, INCLUDE, _Filter

from .support import ROOT, Child, haraka

pytestmark = pytest.mark.timeout(120)

# A tiny application: one service that logs its module's VERSION when it
# starts, and stops as STOP says (ok, fail, hang).
APP = """
import asyncio
import logging

from dependency_injector import containers, providers

from haraka_di import Service

VERSION = {version!r}
STOP = {stop!r}
log = logging.getLogger("reloadme")


class Tick(Service):
    async def startup(self) -> None:
        log.info("tick version %s", VERSION)

    async def shutdown(self) -> None:
        if STOP == "fail":
            raise RuntimeError("tick cannot close")
        if STOP == "hang":
            log.info("tick hangs in its stop")
            await asyncio.Event().wait()


class Container(containers.DeclarativeContainer):
    tick = providers.Singleton(Tick)
"""
TARGET = "reloadme:Container"


def write_app(directory: Path, version: int | str, stop: str = "ok") -> None:
    (directory / "reloadme.py").write_text(APP.format(version=version, stop=stop))


def supervisor(app_dir: Path, *extra: str) -> Child:
    return Child("run", TARGET, "--app-dir", str(app_dir), "--reload", *extra)


def started_pids(child: Child) -> list[int]:
    return [
        int(m.group(1))
        for m in map(re.compile(r"reload: started pid (\d+)").search, child.lines)
        if m
    ]


def position(child: Child, text: str, start: int = 0) -> int:
    """Index of the first line from ``start`` containing ``text``."""
    return next(i for i, line in enumerate(child.lines) if i >= start and text in line)


def test_a_change_stops_the_child_in_order_then_starts_a_fresh_one(tmp_path: Path) -> None:
    write_app(tmp_path, 1)
    with supervisor(tmp_path) as child:
        child.wait_for("tick version 1")
        child.wait_for(f"running {TARGET}")
        (tmp_path / "notes.txt").write_text("not watched")  # ignored: not *.py/*.yaml
        write_app(tmp_path, 2)
        child.wait_for("tick version 2")
        child.wait_for(f"running {TARGET}", count=2)
        child.send(signal.SIGTERM)
        code = child.finish()
    assert code == 0, child.stderr
    first, second = started_pids(child)
    assert first != second
    # the reload: the change, then the first child's stop in order, then the new start
    at = position(child, "file(s) changed")
    assert "reloadme.py" in child.lines[at] and "notes.txt" not in child.stderr, child.stderr
    stop = position(child, f"stopping pid {first} (SIGTERM)", at)
    stopped = position(child, "haraka_di: stopped tick", stop)
    gone = position(child, f"pid {first} stopped with status 0", stopped)
    assert (
        gone
        < position(child, f"started pid {second}", gone)
        < position(child, "tick version 2", gone)
    )
    # the supervisor's SIGTERM: the second child stops in order, then the supervisor exits
    end = position(child, "reload: received SIGTERM")
    stop = position(child, f"stopping pid {second} (SIGTERM)", end)
    assert position(child, "haraka_di: stopped tick", stop) < position(
        child, f"pid {second} stopped with status 0", stop
    )
    assert child.lines[-2].endswith("haraka_di.reload: exiting with status 0"), child.stderr
    assert child.stderr.count("file(s) changed") == 1, child.stderr
    assert child.stderr.count(f"running {TARGET}") == 2


def test_the_supervisor_exits_with_the_childs_status(tmp_path: Path) -> None:
    write_app(tmp_path, 1)
    with supervisor(tmp_path) as child:
        child.wait_for("tick version 1")
        write_app(tmp_path, 2, stop="fail")  # the new code's stop fails: status 1
        child.wait_for("tick version 2")
        child.wait_for(f"running {TARGET}", count=2)
        child.send(signal.SIGINT)
        code = child.finish()
    assert code == 1, child.stderr
    assert "stopping pid" in child.stderr and "(SIGINT)" in child.stderr
    assert "tick cannot close" in child.stderr
    assert "reload: exiting with status 1" in child.stderr


def test_a_second_signal_is_passed_on_and_forces_the_childs_stop(tmp_path: Path) -> None:
    write_app(tmp_path, 1, stop="hang")
    with supervisor(tmp_path) as child:
        child.wait_for("all 1 service(s) ready")
        child.send(signal.SIGTERM)
        child.wait_for("tick hangs in its stop")
        child.send(signal.SIGTERM)
        code = child.finish()
    assert code == 128 + signal.SIGTERM, child.stderr
    assert "received SIGTERM while the child stops: passing it on" in child.stderr
    assert "forcing the shutdown" in child.stderr


def test_a_signal_during_a_reloads_stop_lets_it_finish_and_starts_nothing(
    tmp_path: Path,
) -> None:
    write_app(tmp_path, 1, stop="hang")
    with supervisor(tmp_path, "--set", "orchestrator.stop_timeout=1") as child:
        child.wait_for("all 1 service(s) ready")
        write_app(tmp_path, 2)
        child.wait_for("tick hangs in its stop")  # the reload's stop
        child.send(signal.SIGINT)
        code = child.finish()
    assert code == 1, child.stderr  # the child's: its stop timed out
    assert "received SIGINT: stopping the child, then exiting" in child.stderr
    assert "passing it on" not in child.stderr and "forcing" not in child.stderr
    assert len(started_pids(child)) == 1, child.stderr
    assert "tick version 2" not in child.stderr


def test_a_child_that_fails_to_start_is_started_again_by_the_next_change(
    tmp_path: Path,
) -> None:
    (tmp_path / "reloadme.py").write_text("raise ImportError('half-written module')\n")
    with supervisor(tmp_path) as child:
        child.wait_for("exited with status 2; a change starts it again")
        write_app(tmp_path, 1)
        child.wait_for("tick version 1")
        child.wait_for("all 1 service(s) ready")
        child.send(signal.SIGINT)
        code = child.finish()
    assert code == 0, child.stderr
    assert "half-written module" in child.stderr


def test_reload_dir_and_globs_choose_what_is_watched(tmp_path: Path) -> None:
    app, other = tmp_path / "app", tmp_path / "templates"
    app.mkdir()
    other.mkdir()
    write_app(app, 1)
    with supervisor(
        app, "--reload-dir", str(other), "--reload-include", "*.html", "--reload-exclude", "draft*"
    ) as child:
        child.wait_for("all 1 service(s) ready")
        (other / "draft.html").write_text("excluded")
        (other / "page.html").write_text("included")
        child.wait_for("file(s) changed")
        child.wait_for(f"running {TARGET}", count=2)
        child.send(signal.SIGTERM)
        assert child.finish() == 0, child.stderr
    changed = next(line for line in child.lines if "file(s) changed" in line)
    assert "page.html" in changed and "draft" not in changed, changed
    watching = next(line for line in child.lines if "reload: watching" in line)
    assert str(other) in watching and f"{app}," not in watching, watching  # app is not watched


def test_the_reload_options_need_reload() -> None:
    result = haraka("run", "tests.cli.targets:Small", "--reload-dir", ".")
    assert result.returncode == 2
    assert result.stderr == (
        "haraka run: error: --reload-dir, --reload-include and --reload-exclude only apply "
        "with --reload; add --reload, or leave them out\n"
    )


def test_reload_without_watchfiles_says_how_to_install_it() -> None:
    script = (
        "import sys; sys.modules['watchfiles'] = None  # as if not installed\n"
        "from haraka_di.cli import main\n"
        "sys.exit(main(['run', 'tests.cli.targets:Small', '--reload']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == (
        'haraka run: error: --reload needs the watchfiles package: pip install "haraka_di[reload]" '
        "(or: pip install watchfiles)\n"
    )


def test_without_reload_the_cli_does_not_import_watchfiles() -> None:
    script = (
        "import sys; sys.modules['watchfiles'] = None\n"
        "from haraka_di.cli import main\n"
        "sys.exit(main(['check', 'tests.cli.targets:Small']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: tests.cli.targets:Small")


def test_the_filter_includes_and_excludes_by_name_and_path(tmp_path: Path) -> None:
    config = tmp_path.parent / "outside.conf"
    watched = _Filter([tmp_path], [*INCLUDE, "templates/*.html"], [*EXCLUDE], config)
    assert watched.paths == [tmp_path, config]  # the config file outside is watched too

    def counts(relative: str) -> bool:
        return watched(None, str(tmp_path / relative))

    assert counts("app.py") and counts("pkg/mod.py") and counts("app.yaml")
    assert counts("templates/index.html") and not counts("other/index.html")
    assert not counts("notes.txt")
    assert not counts(".venv/lib/site.py") and not counts(".git/hooks/x.py")
    assert not counts("pkg/__pycache__/mod.py") and not counts("app.pyc")
    assert not counts(".app.py.swp") and not counts("app.py~")
    assert watched(None, str(config))
