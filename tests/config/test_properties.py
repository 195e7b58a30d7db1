"""Properties of interpolation and ``--set`` parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haraka_di.cli._config import load_config, parse_set

values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@given(value=values)
def test_a_quoted_variable_is_exactly_its_value(
    tmp_path_factory: pytest.TempPathFactory, value: str
) -> None:
    path = tmp_path_factory.mktemp("p") / "a.yaml"
    path.write_text('config:\n  x: "${V}"\n  y: "pre-${V}-post"\n')
    config = load_config(path, environ={"V": value}).config
    assert config["x"] == value
    assert config["y"] == f"pre-{value}-post"


@given(number=st.integers(), flag=st.booleans())
def test_unquoted_values_are_typed(
    tmp_path_factory: pytest.TempPathFactory, number: int, flag: bool
) -> None:
    path = tmp_path_factory.mktemp("p") / "a.yaml"
    path.write_text("config:\n  n: ${N}\n  f: ${F:true}\n")
    env = {"N": str(number), "F": str(flag).lower()}
    assert load_config(path, environ=env).config == {"n": number, "f": flag}


@given(number=st.integers(), key=st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True))
def test_set_parses_yaml_scalars(number: int, key: str) -> None:
    assert parse_set(f"config.{key}={number}") == (["config", key], number)
    assert load_config(None, [f"config.{key}.n={number}"]).config == {key: {"n": number}}
