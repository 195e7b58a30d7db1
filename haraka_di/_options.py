"""The one options schema: what ``Orchestrator(...)``, ``use()`` /
``configure()`` and the YAML file accept, and how each value is checked.

Each :class:`Option` knows its check and says what it wants twice: in
Python words for the Python API (``None``) and in YAML words for the file
(``null``). The Python API raises TypeError for an unknown option and
ValueError for a bad value; the YAML loader turns :func:`problem` into a
one-line ConfigError naming the file, line and key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ORCHESTRATOR_OPTIONS",
    "SERVICE_OPTIONS",
    "Option",
    "check",
    "kind",
    "problem",
    "yaml_options",
]


@dataclass(frozen=True, slots=True)
class Option:
    """One option: its name, its check, and what it wants (Python / YAML words)."""

    name: str
    valid: Callable[[Any], bool]
    wants: str
    wants_yaml: str
    in_yaml: bool = True


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds_or_none(value: Any) -> bool:
    return value is None or (_number(value) and value > 0)


def _non_negative(value: Any) -> bool:
    return _number(value) and value >= 0


def _positive_int_or_none(value: Any) -> bool:
    return value is None or (_integer(value) and value >= 1)


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _names(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)


_SECONDS = ("a positive number of seconds or None", "a number of seconds > 0 or null")


def _schema(*options: Option) -> dict[str, Option]:
    return {o.name: o for o in options}


ORCHESTRATOR_OPTIONS: Mapping[str, Option] = _schema(
    Option(
        "max_concurrency",
        _positive_int_or_none,
        "a positive integer or None",
        "an integer >= 1 or null",
    ),
    Option("start_timeout", _seconds_or_none, *_SECONDS),
    Option("stop_timeout", _seconds_or_none, *_SECONDS),
    Option("drain_seconds", _non_negative, "a number of seconds >= 0", "a number of seconds >= 0"),
    Option("cancel_grace", _non_negative, "a number of seconds >= 0", "a number of seconds >= 0"),
    Option("handle_signals", _bool, "True or False", "true or false", in_yaml=False),
)

SERVICE_OPTIONS: Mapping[str, Option] = _schema(
    Option("priority", _integer, "an integer", "an integer"),
    Option("start_timeout", _seconds_or_none, *_SECONDS),
    Option("stop_timeout", _seconds_or_none, *_SECONDS),
    Option("enabled", _bool, "True or False", "true or false"),
    Option("dependencies", _names, "a list of service names", "a list of service names"),
)


def check(
    schema: Mapping[str, Option], options: Mapping[str, Any], where: str, *, skip_none: bool = False
) -> None:
    """Check ``options`` given to the Python API ``where`` (``"configure()"``).

    Raises TypeError naming unknown options and the known ones, and
    ValueError saying what a bad value should be. ``skip_none``: a None
    means "not given" (``use(priority=None)``), not the value None.
    """
    unknown = sorted(set(options) - set(schema))
    if unknown:
        raise TypeError(f"{where} got unknown option(s) {unknown}; known: {sorted(schema)}")
    for key, value in options.items():
        option = schema[key]
        if skip_none and value is None:
            continue
        if not option.valid(value):
            raise ValueError(f"{key} must be {option.wants}, got {value!r}")


def problem(option: Option, value: Any) -> str | None:
    """What is wrong with ``value`` in YAML words, or None if it is valid."""
    if option.valid(value):
        return None
    return f"expected {option.wants_yaml}, got {kind(value)}"


def kind(value: Any) -> str:
    """A value as an error message shows it: mappings and lists by kind."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def yaml_options(schema: Mapping[str, Option]) -> Iterable[str]:
    """The option names the YAML file may set."""
    return (name for name, option in schema.items() if option.in_yaml)
