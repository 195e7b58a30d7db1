"""The YAML configuration loader: sections, interpolation, errors with lines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dependency_injector import containers, providers

from haraka_di import DisabledDependencyError, Orchestrator, Runtime, Service
from haraka_di.cli._config import (
    ConfigError,
    ConfigProblems,
    Settings,
    collect_config,
    load_config,
    parse_set,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path


class Step(Service):
    def __init__(self, runtime: Runtime, *deps: Service, label: str | None = None) -> None:
        super().__init__(runtime)
        self.deps = deps
        self.label = label


class App(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    config = providers.Configuration()
    db = providers.Singleton(Step, runtime, label=config.db.label)
    cache = providers.Singleton(Step, runtime, db)
    web = providers.Singleton(Step, runtime, cache)


FULL = """\
orchestrator:
  max_concurrency: 2
  start_timeout: 5
  stop_timeout: null
  drain_seconds: 0.5
services:
  db:
    priority: 10
    start_timeout: 3
  web: {enabled: true, dependencies: [db]}
config:
  db:
    label: main
"""


def test_sections_are_loaded(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, FULL))
    assert settings.orchestrator == {
        "max_concurrency": 2,
        "start_timeout": 5,
        "stop_timeout": None,
        "drain_seconds": 0.5,
    }
    assert settings.services == {
        "db": {"priority": 10, "start_timeout": 3},
        "web": {"enabled": True, "dependencies": ["db"]},
    }
    assert settings.config == {"db": {"label": "main"}}


def test_empty_file_and_no_file_mean_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing\n")) == Settings(
        source=str(tmp_path / "app.yaml")
    )
    assert load_config(None).services == {}


def test_apply_builds_the_orchestrator(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, FULL))
    container = App()
    orchestrator = settings.apply(container)
    assert isinstance(orchestrator, Orchestrator)
    assert orchestrator.max_concurrency == 2
    assert orchestrator.stop_timeout is None
    assert orchestrator.drain_seconds == 0.5
    assert container.config.db.label() == "main"
    plan = orchestrator.plan()
    assert plan.priority["db"] == 10
    assert plan.dependencies["web"] == ("cache", "db")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {},
            {"port": 8000, "host": "localhost", "path": ":memory:", "url": "http://localhost:8000"},
        ),
        (
            {"PORT": "9000", "HOST": "0.0.0.0", "DB": "/tmp/x.db"},
            {"port": 9000, "host": "0.0.0.0", "path": "/tmp/x.db", "url": "http://0.0.0.0:9000"},
        ),
    ],
)
def test_interpolation(tmp_path: Path, env: dict[str, str], expected: dict[str, object]) -> None:
    path = write(
        tmp_path,
        "config:\n"
        "  port: ${PORT:8000}\n"
        "  host: ${HOST:localhost}\n"
        "  path: ${DB::memory:}\n"
        "  url: http://${HOST:localhost}:${PORT:8000}\n",
    )
    assert load_config(path, environ=env).config == expected


def test_interpolated_values_are_typed_unless_quoted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orchestrator:\n  drain_seconds: ${DRAIN}\n"
        "config:\n  flag: ${FLAG}\n  quoted: '${DRAIN}'\n  dollar: $${NOT_A_VAR}\n",
    )
    settings = load_config(path, environ={"DRAIN": "2.5", "FLAG": "false"})
    assert settings.orchestrator == {"drain_seconds": 2.5}
    assert settings.config == {"flag": False, "quoted": "2.5", "dollar": "${NOT_A_VAR}"}


def test_missing_variable_names_file_line_key(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  server:\n    port: ${APP_PORT}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == (
        f"{path}:3: config.server.port: environment variable APP_PORT is not set "
        "(set it, or give a default: ${APP_PORT:default})"
    )


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        (
            "colour: red\n",
            1,
            "colour",
            "unknown key 'colour'; expected one of config, orchestrator",
        ),
        ("orchestrator:\n  drain: 1\n", 2, "orchestrator.drain", "unknown key 'drain'"),
        (
            "orchestrator:\n  x: 1\n  max_concurency: 2\n",
            2,
            "orchestrator.x",
            "unknown key 'x'",
        ),
        (
            "orchestrator:\n  drain_seconds: -1\n",
            2,
            "orchestrator.drain_seconds",
            "expected a number of seconds >= 0, got -1",
        ),
        (
            "orchestrator:\n  max_concurrency: 0\n",
            2,
            "orchestrator.max_concurrency",
            "expected an integer >= 1 or null, got 0",
        ),
        (
            "services:\n  db:\n    priority: high\n",
            3,
            "services.db.priority",
            "expected an integer",
        ),
        (
            "services:\n  db:\n    enabled: 'no'\n",
            3,
            "services.db.enabled",
            "expected true or false",
        ),
        (
            "services:\n  db:\n    dependencies: cache\n",
            3,
            "services.db.dependencies",
            "expected a list of service names, got 'cache'",
        ),
        ("services:\n  db:\n    prio: 1\n", 3, "services.db.prio", "(did you mean 'priority'?)"),
        ("services:\n  db: 3\n", 2, "services.db", "expected a mapping of options, got 3"),
        ("config: [1, 2]\n", 1, "config", "expected a mapping, got a list"),
        ("\n\nservices:\n  db: {}\n  db: {}\n", 5, "services.db", "duplicate key"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:{line}: {key}: ")
    assert problem in str(info.value)
    assert info.value.path == key


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  a: 1\n  b: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d: invalid YAML: "):
        load_config(path)


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="cannot read the file: No such file"):
        load_config(tmp_path / "missing.yaml")


def test_set_overrides_relative_to_the_file_root(tmp_path: Path) -> None:
    settings = load_config(
        write(tmp_path, FULL),
        [
            "config.server.port=8123",
            "orchestrator.drain_seconds=2",
            "services.db.enabled=false",
            "services.web.dependencies=[db, cache]",
            "config.db.label=other",
        ],
    )
    assert settings.config == {"db": {"label": "other"}, "server": {"port": 8123}}
    assert settings.orchestrator["drain_seconds"] == 2
    assert settings.services["db"] == {"priority": 10, "start_timeout": 3, "enabled": False}
    assert settings.services["web"]["dependencies"] == ["db", "cache"]
    assert settings.where("config", "server", "port") == "--set config.server.port=8123"


def test_set_service_names_may_contain_dots() -> None:
    assert parse_set("services.infra.db.priority=3") == (["services", "infra.db", "priority"], 3)
    assert parse_set("config.a.b=") == (["config", "a", "b"], "")
    assert parse_set("config.a=null") == (["config", "a"], None)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("config.port", "--set config.port: expected KEY.PATH=VALUE"),
        ("config..port=1", "--set config..port=1: config..port: empty key in the path"),
        ("orchestrator.drain_seconds=soon", "orchestrator.drain_seconds: expected a number"),
        ("config.db.label.x=1", "config.db.label: is a str, not a mapping"),
        ("config.a=[1", "value is not valid YAML"),
        ("nope.a=1", "--set nope.a=1: nope: unknown key 'nope'"),
    ],
)
def test_bad_set(tmp_path: Path, item: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, FULL), [item])
    assert message in str(info.value)


def test_unknown_service_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  db: {}\n  cahce:\n    priority: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path).apply(App())
    assert str(info.value) == (
        f"{path}:3: services.cahce: unknown service 'cahce' (did you mean 'cache'?); "
        "known services: db, cache, web"
    )


def test_config_section_needs_a_configuration_provider(tmp_path: Path) -> None:
    class Bare(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)

    path = write(tmp_path, "config:\n  a: 1\n")
    with pytest.raises(
        ConfigError, match=rf"^{path}:1: config: Bare has no providers.Configuration"
    ):
        load_config(path).apply(Bare())


def test_disabled_service_is_not_started(tmp_path: Path) -> None:
    class Loose(containers.DeclarativeContainer):
        runtime = providers.Dependency(instance_of=Runtime)
        db = providers.Singleton(Step, runtime)
        extra = providers.Singleton(Step, runtime)

    orchestrator = load_config(None, ["services.extra.enabled=false"]).apply(Loose())

    async def main() -> list[str]:
        async with orchestrator.running():
            return sorted(orchestrator.services)

    assert asyncio.run(main()) == ["db"]


def test_depending_on_a_disabled_service_is_an_error(tmp_path: Path) -> None:
    orchestrator = load_config(None, ["services.cache.enabled=false"]).apply(App())
    with pytest.raises(
        DisabledDependencyError, match="'web' depends on 'cache', which is disabled"
    ):
        orchestrator.plan()


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_nesting_up_to_the_limit_loads(tmp_path: Path) -> None:
    # the file's mapping and config's mapping are two of the 100 levels
    settings = load_config(write(tmp_path, f"config:\n  x: {nested(98)}\n"))
    value = settings.config["x"]
    for _ in range(97):
        (value,) = value
    assert value == []
    assert load_config(None, [f"config.x={nested(98)}"]).config["x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"config:\n  x: {nested(99)}\n", ":2: nested deeper than 100 levels"),
        ("config:\n  x:\n" + "".join(f"{'  ' * i}  k:\n" for i in range(1, 200)), ":101: nested"),
        (f"config:\n  a: &a {nested(90)}\n  b: {'[' * 20}*a{']' * 20}\n", ":2: config.b: nested"),
        (
            "config:\n  x: &a [*a]\n",
            ":2: config.x: an alias refers to the mapping or list it is in",
        ),
        ("config:\n  x: &a {y: *a}\n", ":2: config.x.y: an alias refers to the mapping or list"),
    ],
)
def test_nesting_too_deep_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}{message}")


@pytest.mark.parametrize(
    "item", [f"config.x={nested(99)}", f"config.x={nested(5000)}", "config" + ".k" * 100 + "=1"]
)
def test_a_set_nested_too_deep_is_one_line(item: str) -> None:
    with pytest.raises(ConfigError, match="nested deeper than 100 levels"):
        load_config(None, [item])


def test_a_caller_short_of_stack_gets_a_config_error_too(tmp_path: Path) -> None:
    import inspect
    import sys

    path = write(tmp_path, f"config:\n  x: {nested(98)}\n")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 100)  # too little for 98 levels
    try:
        with pytest.raises(ConfigError) as info:
            load_config(path)
    finally:
        sys.setrecursionlimit(limit)
    assert str(info.value) == (
        f"{path}: nested too deeply to read with the stack left (recursion limit); flatten it"
    )


def test_every_problem_is_collected_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orchestrator:\n"
        "  drain: 1\n"
        "  max_concurrency: 0\n"
        "services:\n"
        "  db: 3\n"
        "  web:\n"
        "    priority: high\n"
        "    enabled: true\n"
        "colour: red\n"
        "config:\n"
        "  port: ${NO_PORT}\n"
        "  port: 2\n"
        "  ok: 1\n",
    )
    with pytest.raises(ConfigProblems) as info:
        load_config(path, ["services.web.stop_timeout=-1", "nope"], environ={})
    assert [(p.where, p.path) for p in info.value.problems] == [
        (f"{path}:2", "orchestrator.drain"),
        (f"{path}:3", "orchestrator.max_concurrency"),
        (f"{path}:5", "services.db"),
        (f"{path}:7", "services.web.priority"),
        (f"{path}:9", "colour"),
        (f"{path}:11", "config.port"),  # the unset variable
        (f"{path}:12", "config.port"),  # the duplicate
        ("--set nope", ""),
        ("--set services.web.stop_timeout=-1", "services.web.stop_timeout"),
    ]
    assert str(info.value) == (
        f"{path}:2: orchestrator.drain: unknown key 'drain'; expected one of cancel_grace, "
        "drain_seconds, max_concurrency, start_timeout, stop_timeout "
        "(and 8 more problem(s): haraka check lists them all)"
    )


def test_the_valid_rest_is_kept_when_collecting(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  web:\n    priority: high\n    enabled: false\n")
    settings, problems = collect_config(path, ["config.a=1", "config.a.b=2"])
    assert [p.path for p in problems] == ["services.web.priority", "config.a"]
    assert settings.services == {"web": {"enabled": False}}
    assert settings.config == {"a": 1}
