"""YAML configuration: ``orchestrator:``, ``services:`` and ``config:``.

Loading is pure: :func:`load_config` reads the file, interpolates ``${VAR}``,
applies ``--set`` overrides, validates the shape and the option types against
the one options schema (:mod:`haraka_di._options`) and returns a
:class:`Settings`. It touches no container and builds nothing; that is
:func:`haraka_di.cli.build_orchestrator`'s job (``Settings.apply`` delegates
to it).

Every problem is a one-line :class:`ConfigError` naming the file, the line
and the key path (``app.yaml:12: services.db.priority: expected an integer,
got 'high'``). Loading does not stop at the first: it collects every problem
it can tell apart (:func:`collect_config`), leaves the bad keys out, and
:func:`load_config` raises them together as one :class:`ConfigProblems`.
Only a file that cannot be read or parsed at all stops it there.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._options import ORCHESTRATOR_OPTIONS, SERVICE_OPTIONS, Option, kind, problem, yaml_options
from ..exceptions import ConfigError
from ._yaml import MAX_DEPTH, parse_set, read_yaml

if TYPE_CHECKING:
    from .._orchestrator import Orchestrator

__all__ = [
    "MAX_DEPTH",
    "ConfigError",
    "ConfigProblems",
    "Settings",
    "collect_config",
    "load_config",
    "parse_set",
]

SECTIONS = ("orchestrator", "services", "config")


class ConfigProblems(ConfigError):
    """Every problem found in one configuration, at once.

    A :class:`ConfigError` for the first problem (``where``, ``path`` and
    ``problem`` are the first's); ``problems`` holds all of them, each a
    one-line ConfigError, in the order they were found. ``str()`` stays one
    line: the first problem, and how many more there are
    (``haraka check`` prints each on its own line).
    """

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        if not problems:
            raise ValueError("ConfigProblems needs at least one problem")
        first = problems[0]
        super().__init__(first.where, first.path, first.problem)
        self.problems: tuple[ConfigError, ...] = tuple(problems)
        if len(self.problems) > 1:
            more = len(self.problems) - 1
            self.args = (f"{first} (and {more} more problem(s): haraka check lists them all)",)


def in_file_order(problems: Iterable[ConfigError]) -> list[ConfigError]:
    """Problems at a line of the file first, by line; the others (``--set``,
    the file as a whole) after them, in the order they were found."""

    def line(problem: ConfigError) -> tuple[int, int]:
        where, _, number = problem.where.rpartition(":")
        at_line = where and number.isdigit() and not where.startswith("--set ")
        return (0, int(number)) if at_line else (1, 0)

    return sorted(problems, key=line)


def raise_problems(problems: Sequence[ConfigError]) -> None:
    """Raise ``problems`` as one :class:`ConfigProblems`; nothing if empty."""
    if problems:
        raise ConfigProblems(problems)


# -- the result -----------------------------------------------------------------


@dataclass
class Settings:
    """A validated configuration. ``where(path)`` tells where a key was set."""

    orchestrator: dict[str, Any] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    locations: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)

    def where(self, *path: str) -> str:
        """``file:line`` (or ``--set ...``) of the key at ``path``, or its nearest parent."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(tuple(path[:end]))
            if found:
                return found
        return self.source or ""

    def unknown_services(self, known: Iterable[str]) -> list[ConfigError]:
        """One ConfigError per ``services:`` entry the container does not have."""
        names = list(known)
        listed = ", ".join(names) or "none"
        return [
            ConfigError(
                self.where("services", name),
                f"services.{name}",
                f"unknown service{_suggest(name, names)}; known services: {listed}",
            )
            for name in self.services
            if name not in names
        ]

    def check_services(self, known: Iterable[str]) -> None:
        """Raise :class:`ConfigProblems` for the ``services:`` entries the
        container does not have (all of them)."""
        raise_problems(self.unknown_services(known))

    def apply(self, container: Any, **orchestrator_options: Any) -> Orchestrator:
        """``build_orchestrator(container, self, **orchestrator_options)``: load
        ``config:`` into ``container`` and build the configured Orchestrator."""
        from ._build import build_orchestrator

        return build_orchestrator(container, self, **orchestrator_options)


# -- loading ------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read ``path`` (may be None), apply ``key.path=value`` overrides, validate.

    Pure: touches no container, builds nothing (see ``build_orchestrator``).
    Raises :class:`ConfigProblems` (a :class:`ConfigError`) holding every
    problem found, a file nested deeper than :data:`MAX_DEPTH` included.
    """
    settings, problems = collect_config(path, overrides, environ=environ)
    raise_problems(problems)
    return settings


def collect_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, list[ConfigError]]:
    """:func:`load_config` without the raise: the settings made of every
    valid part (a bad key is left out, as if it were not there) and the
    problems found, in file order (see :func:`in_file_order`)."""
    source = str(path) if path is not None else None
    env = os.environ if environ is None else environ
    problems: list[ConfigError] = []
    locations: dict[tuple[str, ...], str] = {}
    try:
        data = read_yaml(Path(path), source or "", env, locations, problems) if path else {}
    except RecursionError:  # within MAX_DEPTH, but the caller's own stack was deep
        message = "nested too deeply to read with the stack left (recursion limit); flatten it"
        problems.append(ConfigError(source or "", "", message))
        data = {}
    for item in overrides:
        try:
            keys, value = parse_set(item)
            _assign(data, keys, value, f"--set {item}")
        except ConfigError as exc:
            problems.append(exc)
            continue
        for end in range(1, len(keys) + 1):
            locations.setdefault(tuple(keys[:end]), f"--set {item}")
        locations[tuple(keys)] = f"--set {item}"
    settings = _validate(data, source, locations, problems)
    return settings, in_file_order(problems)


def _assign(data: dict[str, Any], keys: list[str], value: Any, where: str) -> None:
    node = data
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            path = ".".join(keys[: i + 1])
            raise ConfigError(where, path, f"is a {type(child).__name__}, not a mapping")
        node = child
    node[keys[-1]] = value


def _validate(
    data: dict[str, Any],
    source: str | None,
    locations: dict[tuple[str, ...], str],
    problems: list[ConfigError],
) -> Settings:
    settings = Settings(source=source, locations=locations)

    def fail(path: tuple[str, ...], message: str) -> None:
        problems.append(ConfigError(settings.where(*path), _dotted(path), message))

    sections: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key not in SECTIONS:
            fail((key,), f"unknown key{_suggest(key, SECTIONS)}; expected {_listed(SECTIONS)}")
        elif value is not None and not isinstance(value, dict):
            fail((key,), f"expected a mapping, got {kind(value)}")
        else:
            sections[key] = value or {}
    settings.orchestrator = _options(
        sections.get("orchestrator", {}), ("orchestrator",), ORCHESTRATOR_OPTIONS, fail
    )
    for name, options in sections.get("services", {}).items():
        if options is None:
            options = {}
        if not isinstance(options, dict):
            fail(("services", name), f"expected a mapping of options, got {kind(options)}")
            continue
        settings.services[name] = _options(options, ("services", name), SERVICE_OPTIONS, fail)
    settings.config = sections.get("config", {})
    return settings


def _options(
    given: dict[str, Any],
    path: tuple[str, ...],
    schema: Mapping[str, Option],
    fail: Callable[[tuple[str, ...], str], None],
) -> dict[str, Any]:
    """The valid entries of ``given``; ``fail(path, message)`` for each other one."""
    allowed = list(yaml_options(schema))
    valid: dict[str, Any] = {}
    for key, value in given.items():
        if key not in allowed:
            fail((*path, key), f"unknown key{_suggest(key, allowed)}; expected {_listed(allowed)}")
            continue
        wrong = problem(schema[key], value)
        if wrong is not None:
            fail((*path, key), wrong)
            continue
        valid[key] = value
    return valid


def _dotted(path: Iterable[str]) -> str:
    return ".".join(path)


def _listed(names: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(names))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" {word!r} (did you mean {close[0]!r}?)" if close else f" {word!r}"
