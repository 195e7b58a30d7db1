"""``config:`` checked against the container's pydantic schema, through the
real CLI (child processes), and ``check`` reporting every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import ROOT, haraka

APP = "containers.app:Application"
APP_YAML = (ROOT / "containers" / "app.yaml").read_text()


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the file")


def app_yaml(tmp_path: Path, *replacements: tuple[str, str]) -> tuple[Path, str]:
    """containers/app.yaml with each ``old`` replaced by ``new`` (old must be there)."""
    text = APP_YAML
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path, text


# the four values of issue 15 that passed `check` and then broke at startup
ISSUE_CASES = [
    (
        "port: ${APP_PORT:8000}",
        "port: eighty",
        "config.server.port",
        "expected an integer, got 'eighty'",
    ),
    (
        "path: ${APP_DB_PATH::memory:}",
        "path: false",
        "config.db.path",
        "expected a string, got False",
    ),
    (
        "  worker:\n    interval_seconds: 5",
        '  worker: "x"',
        "config.worker",
        "expected a mapping, got 'x'",
    ),
    (
        "  api:\n    title: haraka_di reference application",
        "  api: null",
        "config.api",
        "expected a mapping, got None",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "message"), ISSUE_CASES)
def test_check_names_file_line_and_key_of_a_bad_value(
    tmp_path: Path, old: str, new: str, key: str, message: str
) -> None:
    path, text = app_yaml(tmp_path, (old, new))
    result = haraka("check", APP, "--config", str(path))
    assert result.returncode == 1, result.stdout
    line = line_of(text, new.splitlines()[0])
    assert result.stderr.splitlines() == [
        f"haraka check: error: {path}:{line}: {key}: {message}",
        f"{APP}: 1 problem(s) found",
    ]
    assert result.stdout == ""


@pytest.mark.parametrize(("old", "new", "key", "message"), ISSUE_CASES)
def test_run_refuses_a_bad_value_before_anything_starts(
    tmp_path: Path, old: str, new: str, key: str, message: str
) -> None:
    path, text = app_yaml(tmp_path, (old, new))
    result = haraka("run", APP, "--config", str(path))
    assert result.returncode == 2, result.stderr  # a bad configuration file
    line = line_of(text, new.splitlines()[0])
    assert result.stderr.splitlines() == [f"haraka run: error: {path}:{line}: {key}: {message}"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("config.server.port=eighty", "config.server.port: expected an integer, got 'eighty'"),
        ("config.db.path=false", "config.db.path: expected a string, got False"),
        ('config.worker="x"', "config.worker: expected a mapping, got 'x'"),
        ("config.api=null", "config.api: expected a mapping, got None"),
    ],
)
def test_a_bad_set_value_is_named_by_its_set(item: str, message: str) -> None:
    for command in ("check", "graph"):
        result = haraka(command, APP, "--config", "containers/app.yaml", "--set", item)
        assert result.returncode == (1 if command == "check" else 2), result.stdout
        assert result.stderr.splitlines()[0] == f"haraka {command}: error: --set {item}: {message}"


def test_check_reports_every_problem_with_the_right_count(tmp_path: Path) -> None:
    path, text = app_yaml(
        tmp_path,
        ("  start_timeout: 30 ", "  start_timeout: soon "),
        ("  worker:\n    priority: 0", "  wroker:\n    priority: 0"),
        ("port: ${APP_PORT:8000}", "port: eighty"),
        ("log_level: info", "log_level: loud\n    prot: 8001"),
        ("path: ${APP_DB_PATH::memory:}", "path: ${NO_SUCH_VARIABLE_HERE}"),
        ("warmup_seconds: 0.5", "warmup_seconds: -1"),
    )
    result = haraka("check", APP, "--config", str(path), "--set", "config.db.echo=loudly")
    assert result.returncode == 1, result.stdout
    at = {needle: f"{path}:{line_of(text, needle)}" for needle in ("soon", "wroker", "eighty")}
    at |= {n: f"{path}:{line_of(text, n)}" for n in ("loud", "prot", "NO_SUCH", "-1")}
    assert result.stderr.splitlines() == [
        f"haraka check: error: {at['soon']}: orchestrator.start_timeout: expected a number of "
        "seconds > 0 or null, got 'soon'",
        f"haraka check: error: {at['wroker']}: services.wroker: unknown service 'wroker' "
        "(did you mean 'worker'?); known services: db, cache, worker, http",
        f"haraka check: error: {at['eighty']}: config.server.port: expected an integer, "
        "got 'eighty'",
        f"haraka check: error: {at['loud']}: config.server.log_level: expected one of "
        "'critical', 'error', 'warning', 'info', 'debug' or 'trace', got 'loud'",
        f"haraka check: error: {at['prot']}: config.server.prot: unknown key 'prot' "
        "(did you mean 'port'?); expected one of access_log, host, log_level, port",
        f"haraka check: error: {at['NO_SUCH']}: config.db.path: environment variable "
        "NO_SUCH_VARIABLE_HERE is not set (set it, or give a default: "
        "${NO_SUCH_VARIABLE_HERE:default})",
        f"haraka check: error: {at['-1']}: config.cache.warmup_seconds: should be greater than "
        "or equal to 0, got -1",
        "haraka check: error: --set config.db.echo=loudly: config.db.echo: expected true or "
        "false, got 'loudly'",
        f"{APP}: 8 problem(s) found",
    ]


def test_run_and_graph_stop_at_the_first_and_say_how_many_more(tmp_path: Path) -> None:
    path, text = app_yaml(
        tmp_path, ("port: ${APP_PORT:8000}", "port: eighty"), ("echo: false", "echo: 7")
    )
    first = (
        f"{path}:{line_of(text, 'eighty')}: config.server.port: expected an integer, got 'eighty'"
    )
    for command in ("run", "graph"):
        result = haraka(command, APP, "--config", str(path))
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"haraka {command}: error: {first} (and 1 more problem(s): haraka check lists them all)"
        ]


def test_file_problems_plan_problems_and_schema_problems_come_together(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(
        "orchestrator:\n"
        "  max_concurrency: 0\n"
        "services:\n"
        "  a:\n"
        "    dependencies: [b]\n"  # a cycle: b already depends on a
        "config:\n"
        "  limits:\n"
        "    retries: many\n"
        "    ratio: [1]\n"
    )
    result = haraka("check", "tests.cli.schema_targets:Shop", "--config", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"haraka check: error: {path}:2: orchestrator.max_concurrency: expected an integer "
        ">= 1 or null, got 0"
    )
    assert lines[1] == (
        f"haraka check: error: {path}:8: config.limits.retries: expected an integer, got 'many'"
    )
    assert lines[2] == (
        f"haraka check: error: {path}:9: config.limits.ratio: expected a number, got a list"
    )
    assert lines[3].startswith("haraka check: error: Circular dependency detected at ")
    assert lines[4] == "tests.cli.schema_targets:Shop: 4 problem(s) found"


def test_the_reference_app_passes_check_and_graph_runs_without_a_file() -> None:
    result = haraka("check", APP, "--config", "containers/app.yaml")
    assert result.returncode == 0, result.stderr
    assert haraka("check", APP).returncode == 0  # the schema's defaults, no file at all
    assert haraka("graph", APP).returncode == 0


def test_settings_from_the_environment_are_worded_like_the_file() -> None:
    """pydantic-settings reads SHOP_LIMITS__RETRIES when dependency-injector
    creates the container: a bad one fails creating it (a bad TARGET, exit
    2), in one line naming the key, not a multi-line ValidationError."""
    result = haraka("check", "tests.cli.schema_targets:Shop", env={"SHOP_LIMITS__RETRIES": "x"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "haraka check: error: tests.cli.schema_targets:Shop: creating the container failed: "
        "config.limits.retries: expected an integer, got 'x' "
        "(read by ShopSettings from the environment when the container was created)",
    ]
    good = haraka("graph", "tests.cli.schema_targets:Shop", env={"SHOP_LIMITS__RETRIES": "2"})
    assert good.returncode == 0, good.stderr
