"""YAML configuration: ``orchestrator:``, ``services:`` and ``config:``.

Loading is pure: :func:`load_config` reads the file, interpolates ``${VAR}``,
applies ``--set`` overrides, validates the shape and the option types against
the one options schema (:mod:`haraka_di._options`) and returns a
:class:`Settings`. It touches no container and builds nothing; that is
:func:`haraka_di.cli.build_orchestrator`'s job (``Settings.apply`` delegates
to it).

Every error is a :class:`ConfigError` naming the file, the line and the key
path (``app.yaml:12: services.db.priority: expected an integer, got 'high'``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .._options import ORCHESTRATOR_OPTIONS, SERVICE_OPTIONS, Option, kind, problem, yaml_options
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from .._orchestrator import Orchestrator

__all__ = ["ConfigError", "Settings", "load_config", "parse_set"]

SECTIONS = ("orchestrator", "services", "config")
MAX_DEPTH = 100
"""The most mappings and lists a configuration may nest (PyYAML and the
container's Configuration recurse once per level; deeper is an error)."""
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels of mappings and lists; flatten it"
_INTERPOLATION = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\})")


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

    def check_services(self, known: Iterable[str]) -> None:
        """Raise ConfigError for a ``services:`` entry the container does not have."""
        names = list(known)
        for name in self.services:
            if name not in names:
                listed = ", ".join(names) or "none"
                raise ConfigError(
                    self.where("services", name),
                    f"services.{name}",
                    f"unknown service{_suggest(name, names)}; known services: {listed}",
                )

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
    Raises :class:`ConfigError` for every problem, a file nested deeper than
    :data:`MAX_DEPTH` included.
    """
    source = str(path) if path is not None else None
    try:
        return _load(path, source, overrides, os.environ if environ is None else environ)
    except RecursionError:  # within MAX_DEPTH, but the caller's own stack was deep
        problem = "nested too deeply to read with the stack left (recursion limit); flatten it"
        raise ConfigError(source or "--set", "", problem) from None


def _load(
    path: str | os.PathLike[str] | None,
    source: str | None,
    overrides: Sequence[str],
    env: Mapping[str, str],
) -> Settings:
    locations: dict[tuple[str, ...], str] = {}
    data: dict[str, Any] = {}
    if path is not None:
        data = _read(Path(path), source or "", env, locations)
    for item in overrides:
        keys, value = parse_set(item)
        _assign(data, keys, value, f"--set {item}")
        for end in range(1, len(keys) + 1):
            locations.setdefault(tuple(keys[:end]), f"--set {item}")
        locations[tuple(keys)] = f"--set {item}"
    return _validate(data, source, locations)


def parse_set(item: str) -> tuple[list[str], Any]:
    """``services.db.priority=5`` -> (["services", "db", "priority"], 5).

    The value is parsed as YAML (``8123`` is an int, ``false`` a bool, ``[a, b]``
    a list). In ``services.NAME.OPTION`` the service name may contain dots
    (``services.infra.db.enabled=false``).
    """
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set {item}", "", "expected KEY.PATH=VALUE, e.g. config.server.port=8123"
        )
    keys = key.strip().split(".")
    if any(not k for k in keys):
        raise ConfigError(f"--set {item}", key, "empty key in the path")
    if keys[0] == "services" and len(keys) > 3:
        keys = ["services", ".".join(keys[1:-1]), keys[-1]]
    if len(keys) >= MAX_DEPTH:
        raise ConfigError(f"--set {item}", "", TOO_DEEP)
    loader = _Loader(raw, depth=len(keys))
    try:
        value = loader.get_single_data() if raw.strip() else ""
    except _TooDeep:
        raise ConfigError(f"--set {item}", key, TOO_DEEP) from None
    except yaml.YAMLError as exc:
        problem = f"value is not valid YAML: {_one_line(exc)}"
        raise ConfigError(f"--set {item}", key, problem) from None
    finally:
        loader.dispose()
    return keys, value


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


def _read(
    path: Path, source: str, env: Mapping[str, str], locations: dict[tuple[str, ...], str]
) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file: {exc.strerror or exc}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except _TooDeep as exc:
        raise ConfigError(f"{source}:{exc.line}", "", TOO_DEEP) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(where, "", f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"invalid YAML: {_one_line(exc)}") from None
    finally:
        loader.dispose()
    if node is None:
        return {}
    builder = _Builder(source, env, locations)
    data = builder.build(node, (), 0)
    if not isinstance(data, dict):
        raise ConfigError(builder.at(node), "", "the file must be a mapping of sections")
    return data


class _TooDeep(Exception):
    """Raised by :class:`_Loader` at the collection one level too deep."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}")
        self.line = line


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses to compose more than :data:`MAX_DEPTH`
    nested collections (PyYAML's composer recurses once per level, so a deep
    file would otherwise end in a RecursionError). ``depth``: how deep the
    document starts (a ``--set`` value under its key path)."""

    def __init__(self, stream: str, depth: int = 0) -> None:
        super().__init__(stream)
        self.depth = depth

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark.line + 1)  # type: ignore[no-untyped-call]
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    """Node tree -> Python values, remembering the line of every key.

    The composed tree is at most :data:`MAX_DEPTH` deep, but an alias can
    make it deeper (``*a`` inside ``&a``'s own value even makes it endless):
    ``depth`` counts the levels built, ``building`` the collections open now.
    """

    def __init__(
        self, source: str, env: Mapping[str, str], locations: dict[tuple[str, ...], str]
    ) -> None:
        self.source = source
        self.env = env
        self.locations = locations
        self.loader = yaml.SafeLoader("")
        self.building: set[int] = set()

    def at(self, node: yaml.Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def build(self, node: yaml.Node, path: tuple[str, ...], depth: int) -> Any:
        if not isinstance(node, yaml.CollectionNode):
            return self.scalar(node, path)
        if id(node) in self.building:
            raise ConfigError(
                self.at(node), _dotted(path), "an alias refers to the mapping or list it is in"
            )
        if depth >= MAX_DEPTH:
            raise ConfigError(self.at(node), _dotted(path), TOO_DEEP)
        self.building.add(id(node))
        try:
            return self.collection(node, path, depth + 1)
        finally:
            self.building.discard(id(node))

    def collection(self, node: yaml.CollectionNode, path: tuple[str, ...], depth: int) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, path, depth)
                if not isinstance(key, str):
                    raise ConfigError(
                        self.at(key_node), _dotted(path), f"keys must be strings, got {key!r}"
                    )
                if key in result:
                    raise ConfigError(self.at(key_node), _dotted((*path, key)), "duplicate key")
                self.locations[(*path, key)] = self.at(key_node)
                result[key] = self.build(value_node, (*path, key), depth)
            return result
        return [self.build(item, path, depth) for item in node.value]

    def scalar(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        assert isinstance(node, yaml.ScalarNode)  # composed nodes: scalar or collection
        if "$" in node.value and node.tag in ("tag:yaml.org,2002:str", "!"):
            return self.interpolate(node, path)
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise ConfigError(self.at(node), _dotted(path), _one_line(exc)) from None

    def interpolate(self, node: yaml.ScalarNode, path: tuple[str, ...]) -> Any:
        def replace(match: re.Match[str]) -> str:
            if match.group(1) == "$":
                return "$"
            name, default = match.group(2), match.group(3)
            value = self.env.get(name)
            if value is None:
                if default is None:
                    raise ConfigError(
                        self.at(node),
                        _dotted(path),
                        f"environment variable {name} is not set "
                        f"(set it, or give a default: ${{{name}:default}})",
                    )
                value = default
            return value

        text = _INTERPOLATION.sub(replace, node.value)
        if node.style is not None:  # quoted or block scalar: stays a string
            return text
        tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        return self.loader.construct_object(yaml.ScalarNode(tag, text), deep=True)


def _validate(
    data: dict[str, Any], source: str | None, locations: dict[tuple[str, ...], str]
) -> Settings:
    settings = Settings(source=source, locations=locations)

    def fail(path: tuple[str, ...], message: str) -> ConfigError:
        return ConfigError(settings.where(*path), _dotted(path), message)

    for key in data:
        if key not in SECTIONS:
            expected = _listed(SECTIONS)
            raise fail((key,), f"unknown key{_suggest(key, SECTIONS)}; expected {expected}")
    for section in SECTIONS:
        value = data.get(section)
        if value is not None and not isinstance(value, dict):
            raise fail((section,), f"expected a mapping, got {kind(value)}")
    settings.orchestrator = _options(
        data.get("orchestrator") or {}, ("orchestrator",), ORCHESTRATOR_OPTIONS, fail
    )
    for name, options in (data.get("services") or {}).items():
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise fail(("services", name), f"expected a mapping of options, got {kind(options)}")
        settings.services[name] = _options(options, ("services", name), SERVICE_OPTIONS, fail)
    settings.config = data.get("config") or {}
    return settings


def _options(
    given: dict[str, Any],
    path: tuple[str, ...],
    schema: Mapping[str, Option],
    fail: Callable[[tuple[str, ...], str], ConfigError],
) -> dict[str, Any]:
    allowed = list(yaml_options(schema))
    for key, value in given.items():
        if key not in allowed:
            raise fail(
                (*path, key), f"unknown key{_suggest(key, allowed)}; expected {_listed(allowed)}"
            )
        wrong = problem(schema[key], value)
        if wrong is not None:
            raise fail((*path, key), wrong)
    return dict(given)


def _dotted(path: Iterable[str]) -> str:
    return ".".join(path)


def _listed(names: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(names))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" {word!r} (did you mean {close[0]!r}?)" if close else f" {word!r}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
