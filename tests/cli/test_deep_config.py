"""A YAML file nested absurdly deep: one line naming file and line, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import haraka

SMALL = "tests.cli.targets:Small"
MESSAGE = "nested deeper than 100 levels of mappings and lists; flatten it"


@pytest.fixture(params=[500, 100_000])
def deep_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    levels: int = request.param
    path = tmp_path / "deep.yaml"
    path.write_text("config:\n  x: " + "[" * levels + "]" * levels + "\n")
    return path


def test_check_reports_it_as_one_problem(deep_file: Path) -> None:
    result = haraka("check", SMALL, "--config", str(deep_file))
    assert result.stderr.splitlines() == [
        f"haraka check: error: {deep_file}:2: {MESSAGE}",
        f"{SMALL}: 1 problem(s) found",
    ]
    assert result.returncode == 1  # check: every configuration problem is a problem found


@pytest.mark.parametrize("command", ["run", "graph"])
def test_run_and_graph_exit_2(deep_file: Path, command: str) -> None:
    result = haraka(command, SMALL, "--config", str(deep_file))
    assert result.stderr == f"haraka {command}: error: {deep_file}:2: {MESSAGE}\n"
    assert result.returncode == 2
    assert result.stdout == ""


def test_a_deep_set_value_too() -> None:
    value = "[" * 500 + "]" * 500
    result = haraka("run", SMALL, "--set", f"config.x={value}")
    assert result.stderr == f"haraka run: error: --set config.x={value}: config.x: {MESSAGE}\n"
    assert result.returncode == 2
