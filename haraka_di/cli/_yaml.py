"""Reading the YAML file and ``--set`` values: PyYAML nodes -> Python values.

:func:`read_yaml` builds the file's values, interpolating ``${VAR}`` and
remembering the line of every key. A problem with one value (an unset
variable, a duplicate key, a key that is no string, an alias inside its own
value, nesting deeper than :data:`MAX_DEPTH`) is recorded and that key left
out, so the rest of the file is still read; only a file that cannot be read
or is not valid YAML ends reading there. :func:`parse_set` reads one
``--set KEY.PATH=VALUE`` and raises its one :class:`ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import ConfigError

__all__ = ["MAX_DEPTH", "TOO_DEEP", "parse_set", "read_yaml"]

MAX_DEPTH = 100
"""The most mappings and lists a configuration may nest (PyYAML and the
container's Configuration recurse once per level; deeper is an error)."""
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels of mappings and lists; flatten it"
_INTERPOLATION = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\})")


class _Bad:
    """A value that could not be built; its key is left out (the problem is recorded)."""


_BAD = _Bad()


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


def read_yaml(
    path: Path,
    source: str,
    env: Mapping[str, str],
    locations: dict[tuple[str, ...], str],
    problems: list[ConfigError],
) -> dict[str, Any]:
    """The file's mapping of sections; every problem appended to ``problems``
    (an unreadable or invalid file gives one, and ``{}``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(ConfigError(source, "", f"cannot read the file: {exc.strerror or exc}"))
        return {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except _TooDeep as exc:
        problems.append(ConfigError(f"{source}:{exc.line}", "", TOO_DEEP))
        return {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problems.append(ConfigError(where, "", f"invalid YAML: {exc.problem or exc}"))
        return {}
    except yaml.YAMLError as exc:
        problems.append(ConfigError(source, "", f"invalid YAML: {_one_line(exc)}"))
        return {}
    finally:
        loader.dispose()
    if node is None:
        return {}
    builder = _Builder(source, env, locations, problems)
    data = builder.build(node, (), 0)
    if isinstance(data, _Bad):
        return {}
    if not isinstance(data, dict):
        problems.append(ConfigError(builder.at(node), "", "the file must be a mapping of sections"))
        return {}
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
    A value with a problem is :data:`_BAD`: recorded, and left out by the
    collection holding it.
    """

    def __init__(
        self,
        source: str,
        env: Mapping[str, str],
        locations: dict[tuple[str, ...], str],
        problems: list[ConfigError],
    ) -> None:
        self.source = source
        self.env = env
        self.locations = locations
        self.problems = problems
        self.loader = yaml.SafeLoader("")
        self.building: set[int] = set()

    def at(self, node: yaml.Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def bad(self, node: yaml.Node, path: tuple[str, ...], message: str) -> _Bad:
        self.problems.append(ConfigError(self.at(node), ".".join(path), message))
        return _BAD

    def build(self, node: yaml.Node, path: tuple[str, ...], depth: int) -> Any:
        if not isinstance(node, yaml.CollectionNode):
            return self.scalar(node, path)
        if id(node) in self.building:
            return self.bad(node, path, "an alias refers to the mapping or list it is in")
        if depth >= MAX_DEPTH:
            return self.bad(node, path, TOO_DEEP)
        self.building.add(id(node))
        try:
            return self.collection(node, path, depth + 1)
        finally:
            self.building.discard(id(node))

    def collection(self, node: yaml.CollectionNode, path: tuple[str, ...], depth: int) -> Any:
        if not isinstance(node, yaml.MappingNode):
            items = (self.build(item, path, depth) for item in node.value)
            return [item for item in items if not isinstance(item, _Bad)]
        self.loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = self.build(key_node, path, depth)
            if isinstance(key, _Bad):
                continue
            if not isinstance(key, str):
                self.bad(key_node, path, f"keys must be strings, got {key!r}")
                continue
            if key in seen:
                self.bad(key_node, (*path, key), "duplicate key")
                continue
            seen.add(key)
            self.locations[(*path, key)] = self.at(key_node)
            value = self.build(value_node, (*path, key), depth)
            if not isinstance(value, _Bad):
                result[key] = value
        return result

    def scalar(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        assert isinstance(node, yaml.ScalarNode)  # composed nodes: scalar or collection
        if "$" in node.value and node.tag in ("tag:yaml.org,2002:str", "!"):
            return self.interpolate(node, path)
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            return self.bad(node, path, _one_line(exc))

    def interpolate(self, node: yaml.ScalarNode, path: tuple[str, ...]) -> Any:
        unset: list[str] = []

        def replace(match: re.Match[str]) -> str:
            if match.group(1) == "$":
                return "$"
            name, default = match.group(2), match.group(3)
            value = self.env.get(name)
            if value is None:
                if default is None:
                    unset.append(name)
                    return ""
                value = default
            return value

        text = _INTERPOLATION.sub(replace, node.value)
        if unset:
            name = unset[0]
            return self.bad(
                node,
                path,
                f"environment variable {name} is not set "
                f"(set it, or give a default: ${{{name}:default}})",
            )
        if node.style is not None:  # quoted or block scalar: stays a string
            return text
        tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        return self.loader.construct_object(yaml.ScalarNode(tag, text), deep=True)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
