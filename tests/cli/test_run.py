"""``haraka run`` as a real child process: signals, exit statuses, output."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .support import ROOT, Child, haraka

SMALL = "tests.cli.targets:Small"


def stop_order(stderr: str) -> list[str]:
    return [line.rsplit(" ", 1)[1] for line in stderr.splitlines() if ": stopped " in line]


def assert_reverse_order(stderr: str) -> None:
    """Every dependent stopped before what it depends on: c, b, a; late before a."""
    stops = stop_order(stderr)
    assert sorted(stops) == ["a", "b", "c", "late"], stderr
    assert stops.index("c") < stops.index("b") < stops.index("a"), stops
    assert stops.index("late") < stops.index("a"), stops


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_in_reverse_order_and_exits_0(sig: signal.Signals) -> None:
    with Child("run", SMALL) as child:
        child.wait_for("all 4 service(s) ready")
        child.send(sig)
        code = child.finish()
    assert code == 0, child.stderr
    assert_reverse_order(child.stderr)
    assert f"received {sig.name}" in child.stderr
    assert "Traceback" not in child.stderr


def test_progress_and_timeline_are_shown() -> None:
    with Child("run", SMALL, "--set", "config.late_seconds=0.05") as child:
        child.wait_for("all 4 service(s) ready")
        child.send(signal.SIGTERM)
        assert child.finish() == 0
    err = child.stderr
    assert "starting 4 service(s) in 3 wave(s): a, b, late, c" in err or "a, b, c, late" in err
    assert "starting a ..." in err
    assert "[1/4] a ready" in err
    assert "late started, not ready yet" in err
    assert "late is ready" in err
    header = next(line for line in err.splitlines() if line.startswith("NODE"))
    assert header.split() == ["NODE", "KIND", "WAVE", "START", "DURATION", "READY"]
    rows = {line.split()[0]: line.split() for line in err.splitlines() if line[:2] in ("a ", "b ")}
    assert rows["a"][1:3] == ["Service", "0"] and rows["a"][-1] == "yes"
    assert rows["b"][2] == "1"
    assert re.search(r"^startup took \d+\.\d ms for 4 service\(s\)$", err, re.M), err


def test_progress_and_timeline_count_services_and_resources_apart() -> None:
    with Child("run", "tests.cli.targets:Stored") as child:
        child.wait_for("all 3 node(s) ready (2 service(s), 1 resource(s))")
        child.send(signal.SIGTERM)
        assert child.finish() == 0, child.stderr
    err = child.stderr
    assert "starting 3 node(s) (2 service(s), 1 resource(s)) in 3 wave(s): store, a, b" in err
    assert "[1/3] store ready" in err
    table = [
        line.split()
        for line in err.splitlines()
        if line.split()[1:2] in (["Resource"], ["Service"])
    ]
    rows = {row[0]: row for row in table}
    assert list(rows) == ["store", "a", "b"]  # by start offset
    assert rows["store"][1:3] == ["Resource", "0"] and rows["store"][-1] == "yes"
    assert rows["a"][1:3] == ["Service", "1"]
    assert re.search(
        r"^startup took .* for 3 node\(s\) \(2 service\(s\), 1 resource\(s\)\)$", err, re.M
    )
    assert stop_order(err) == ["b", "a", "store"]
    assert err.count("store closed") == 1  # the generator's code after `yield`, once


def test_run_without_lifecycle_nodes_warns_in_one_line_and_still_runs() -> None:
    with Child("run", "tests.cli.targets:Empty") as child:
        child.wait_for("running tests.cli.targets:Empty")
        child.send(signal.SIGTERM)
        assert child.finish() == 0, child.stderr
    warnings = [line for line in child.stderr.splitlines() if "nothing to run" in line]
    assert len(warnings) == 1, child.stderr
    assert warnings[0].endswith(
        " WARNING haraka_di: tests.cli.targets:Empty has no lifecycle nodes (no Service "
        "providers and no providers.Resource): nothing to run; declare them in the "
        "container, or point TARGET at the container that does"
    )
    assert "starting 0 service(s) in 0 wave(s)" in child.stderr
    assert "received SIGTERM" in child.stderr and "exiting with status 0" in child.stderr


def test_run_with_nodes_does_not_warn() -> None:
    with Child("run", SMALL) as child:
        child.wait_for("all 4 service(s) ready")
        child.send(signal.SIGTERM)
        assert child.finish() == 0, child.stderr
    assert "nothing to run" not in child.stderr
    assert "WARNING" not in child.stderr.split("received SIGTERM")[0].rsplit("\n", 1)[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_forces_and_exits_128_plus_signum(sig: signal.Signals) -> None:
    args = ("run", SMALL, "--set", "orchestrator.drain_seconds=120")
    with Child(*args) as child:
        child.wait_for("all 4 service(s) ready")
        child.send(sig)
        child.wait_for("draining")
        child.send(sig)
        code = child.finish()
    assert code == 128 + sig, child.stderr
    assert "forcing the shutdown" in child.stderr
    assert_reverse_order(child.stderr)


def test_startup_failure_is_one_line_and_exit_1() -> None:
    result = haraka("run", SMALL, "--set", "config.fail=b")
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("haraka run: error: Startup failed: 'b': RuntimeError: b cannot connect")
    assert "Traceback" not in result.stderr
    stops = stop_order(result.stderr)
    assert "a" in stops and "b" not in stops and "c" not in stops, result.stderr


def test_startup_failure_with_verbose_shows_the_traceback() -> None:
    result = haraka("run", SMALL, "--set", "config.fail=a", "--verbose")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: a cannot connect" in result.stderr


def test_disabled_service_is_not_started(tmp_path: object) -> None:
    with Child("run", SMALL, "--set", "services.late.enabled=false") as child:
        child.wait_for("all 3 service(s) ready")
        child.send(signal.SIGTERM)
        assert child.finish() == 0
    assert "late" not in child.stderr.split("running tests.cli.targets")[0].split("wave(s):")[1]
    assert stop_order(child.stderr) == ["c", "b", "a"]


def test_planning_error_exits_1_before_starting_anything() -> None:
    result = haraka("run", SMALL, "--set", "services.a.dependencies=[c]")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("haraka run: error: Circular dependency detected at ")
    assert " -> " in last
    assert "starting a" not in result.stderr


def test_bad_config_exits_2_naming_file_line_and_key(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "bad.yaml"
    path.write_text("orchestrator:\n  drain_seconds: 1\n  max_concurency: 2\n")
    result = haraka("run", SMALL, "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"haraka run: error: {path}:3: orchestrator.max_concurency: unknown key "
        "'max_concurency' (did you mean 'max_concurrency'?); expected one of cancel_grace, "
        "drain_seconds, max_concurrency, start_timeout, stop_timeout"
    )


def test_signal_during_startup_rolls_back_and_exits_128_plus_signum() -> None:
    with Child("run", SMALL, "--set", "config.hang=c") as child:
        child.wait_for("starting c ...")
        child.send(signal.SIGTERM)
        code = child.finish()
    assert code == 128 + signal.SIGTERM, child.stderr
    last = child.stderr.splitlines()[-1]
    assert last.startswith("haraka run: error: Startup interrupted by SIGTERM")
    stops = stop_order(child.stderr)
    assert "c" not in stops and stops.index("b") < stops.index("a"), stops


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("haraka")
    result = subprocess.run(
        [str(script), "check", SMALL], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: {SMALL}: 4 service(s)")
