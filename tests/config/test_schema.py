"""build_orchestrator checks ``config:`` against the pydantic schema a
Configuration declares (``pydantic_settings=[...]``), and only then."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dependency_injector import containers, providers
from pydantic_settings import BaseSettings

from haraka_di import Runtime
from haraka_di.cli import ConfigError, ConfigProblems, build_orchestrator, load_config
from haraka_di.cli._build import check_configuration

from ..cli.schema_targets import Shop, Step
from .test_config import App, write


def problems_of(container: object, settings: object) -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        build_orchestrator(container, settings)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_without_a_schema_config_is_loaded_unchecked(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  db:\n    label: [not, a, string]\n")
    container = App()
    build_orchestrator(container, load_config(path))
    assert container.config.db.label() == ["not", "a", "string"]


def test_validated_values_are_what_the_container_gets(tmp_path: Path) -> None:
    path = write(tmp_path, 'config:\n  debug: "yes"\n  limits:\n    retries: "5"\n')
    container = Shop()
    build_orchestrator(container, load_config(path))
    assert container.config.debug() is True  # not the string "yes"
    assert container.config.limits.retries() == 5
    assert container.config.limits.ratio() == 0.5  # the schema's default
    assert container.config.name() == "shop"


def test_every_problem_names_its_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "config:\n  name: 3\n  tags: [a, [b]]\n  limits:\n    retries: -2\n    ratoi: 1\n",
    )
    assert problems_of(Shop(), load_config(path)) == [
        f"{path}:2: config.name: expected a string, got 3",
        f"{path}:3: config.tags[1]: expected a string, got a list",
        f"{path}:5: config.limits.retries: should be greater than or equal to 0, got -2",
        f"{path}:6: config.limits.ratoi: unknown key 'ratoi' (did you mean 'ratio'?); "
        "expected one of ratio, retries",
    ]


def test_one_line_for_all_the_problems_and_each_in_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  name: 3\n  limits: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(path).apply(Shop())
    assert str(info.value) == (
        f"{path}:2: config.name: expected a string, got 3 "
        "(and 1 more problem(s): haraka check lists them all)"
    )
    assert isinstance(info.value, ConfigProblems)
    assert info.value.where == f"{path}:2" and info.value.path == "config.name"
    assert [p.path for p in info.value.problems] == ["config.name", "config.limits"]


class Required(BaseSettings):
    dsn: str
    pool: int = 5


def test_a_required_key_and_a_bad_default_of_the_container() -> None:
    container = containers.DynamicContainer()  # nothing loads Required before the check
    container.runtime = providers.Dependency(instance_of=Runtime)
    container.config = providers.Configuration(
        default={"pool": "big"}, pydantic_settings=[Required]
    )
    container.db = providers.Singleton(Step, container.runtime, fail=container.config.dsn)
    settings = load_config(None, ["config.other=1"])
    assert problems_of(container, settings) == [
        "config.dsn: missing: the schema requires it; set it in config:",
        "config.pool: expected an integer, got 'big' "
        "(the container's default; the configuration does not set it)",
        "--set config.other=1: config.other: unknown key 'other'; expected one of dsn, pool",
    ]
    assert container.config() == {"pool": "big"}  # a rejected config: is not left in it
    fixed = load_config(None, ["config.dsn=sqlite://", "config.pool=7"])
    build_orchestrator(container, fixed)
    assert container.config() == {"dsn": "sqlite://", "pool": 7}


def test_settings_failing_from_the_environment_are_config_problems(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_LIMITS__RETRIES", "lots")
    assert problems_of(Shop, None) == [
        "config.limits.retries: expected an integer, got 'lots' "
        "(read by ShopSettings from the environment when the container was created)"
    ]
    monkeypatch.setenv("SHOP_LIMITS__RETRIES", "9")
    assert build_orchestrator(Shop).container.config.limits.retries() == 9


def test_check_configuration_does_not_repeat_a_key_the_file_got_wrong(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  limits:\n    retries: ${UNSET_RETRIES}\n  name: 1\n")
    orchestrator, _, problems = check_configuration(Shop(), path)
    assert orchestrator is not None
    assert [(p.where, p.path) for p in problems] == [
        (f"{path}:3", "config.limits.retries"),  # the variable, not the schema
        (f"{path}:4", "config.name"),
    ]


def test_the_core_and_the_cli_need_no_pydantic_without_a_schema(tmp_path: Path) -> None:
    """With pydantic unimportable, a container without a schema still loads,
    builds and checks its configuration."""
    script = textwrap.dedent(
        """
        import sys

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in ("pydantic", "pydantic_settings", "pydantic_core"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, NotInstalled())
        import haraka_di
        from haraka_di.cli import load_config, main
        from tests.config.test_config import App

        container = App()
        load_config(None, ["config.db.label=x"]).apply(container)
        assert container.config.db.label() == "x"
        assert main(["check", "tests.cli.targets:Small", "--set", "config.fail=b"]) == 0
        print("ok", [name for name in sys.modules if name.startswith("pydantic")])
        """
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "ok []"
