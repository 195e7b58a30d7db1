"""The CLI is a layer on the core: it imports the core, the core never imports it."""

from __future__ import annotations

import re
from pathlib import Path

import haraka_di.cli

PACKAGE = Path(haraka_di.cli.__file__).resolve().parents[1]
IMPORTS_CLI = re.compile(r"^\s*(from\s+(haraka_di)?\.*cli\b|import\s+haraka_di\.cli\b)", re.M)


def test_no_core_module_imports_the_cli() -> None:
    importers = sorted(
        path.name for path in PACKAGE.glob("*.py") if IMPORTS_CLI.search(path.read_text())
    )
    assert importers == ["__main__.py"]  # python -m haraka_di is the command


def test_the_public_names_are_listed_sorted_and_resolve() -> None:
    assert haraka_di.cli.__all__ == sorted(haraka_di.cli.__all__)
    for name in haraka_di.cli.__all__:
        assert getattr(haraka_di.cli, name) is not None
    assert haraka_di.cli.ConfigError is haraka_di.ConfigError
