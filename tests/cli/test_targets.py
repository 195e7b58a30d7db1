"""A bad TARGET: one clear line and exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from .support import haraka


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.cli.targets", "TARGET must be MODULE:ATTRIBUTE"),
        ("tests.cli.no_such_module:App", "no module named 'tests.cli.no_such_module'"),
        ("tests.cli.targets:Nope", "module 'tests.cli.targets' has no attribute 'Nope'"),
        ("tests.cli.targets:not_a_container", "is 42, not a dependency-injector container"),
        ("tests.cli.targets:NotAContainer", "not a dependency-injector container"),
        ("tests.cli.targets:make_nothing", "is a factory, but it returned 42"),
        ("tests.cli.targets:make_broken", "calling the factory failed"),
        ("tests.cli.broken_import:X", "No module named 'haraka_di_no_such_package'"),
    ],
)
def test_bad_target(target: str, message: str) -> None:
    command = "run"
    result = haraka(command, target)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"haraka {command}: error: ")
    assert message in lines[0]


@pytest.mark.parametrize(
    "target",
    ["tests.cli.targets:Small", "tests.cli.targets:instance", "tests.cli.targets:make_small"],
)
def test_class_instance_and_factory_are_accepted(target: str) -> None:
    result = haraka("check", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: {target}: 4 service(s)")


@pytest.mark.parametrize("command", ["check", "graph"])
def test_bad_target_for_check_and_graph(command: str) -> None:
    result = haraka(command, "tests.cli.targets:Nope")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"haraka {command}: error: module 'tests.cli.targets' has no attribute 'Nope'"
    )


def test_usage_error_exits_2() -> None:
    result = haraka("run")
    assert result.returncode == 2
    assert "TARGET" in result.stderr


def test_help_and_version() -> None:
    version = haraka("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("haraka ")
    helped = haraka("run", "--help")
    assert helped.returncode == 0
    assert "128+signum after a forced stop" in helped.stdout
