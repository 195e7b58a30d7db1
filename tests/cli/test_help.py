"""Every option of every ``haraka`` command says what it does in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from haraka_di.cli._commands import _parser


def _parsers(
    parser: argparse.ArgumentParser, name: str = "haraka"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {command}")


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:
        if not action.option_strings and action.metavar is not None:
            continue  # a positional like TARGET or COMMAND: its metavar is in the usage line
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
            missing.append("/".join(action.option_strings) or action.dest)
        if isinstance(action, argparse._SubParsersAction):
            missing += [c.dest for c in action._choices_actions if not (c.help or "").strip()]
    return missing


def test_every_option_of_every_command_has_a_help_line() -> None:
    parsers = dict(_parsers(_parser()))
    assert set(parsers) == {"haraka", "haraka run", "haraka graph", "haraka check"}
    missing = {name: _undocumented(p) for name, p in parsers.items() if _undocumented(p)}
    assert missing == {}


def test_every_help_page_renders() -> None:
    for name, parser in _parsers(_parser()):
        assert parser.format_help().startswith(f"usage: {name}")
