"""``config:`` checked against the pydantic schema the container declares.

The schema is dependency-injector's own: the pydantic settings given to the
container's Configuration provider,
``providers.Configuration(pydantic_settings=[AppSettings])`` (a
``pydantic_settings.BaseSettings`` class or instance; any pydantic v2
``BaseModel`` is checked the same way). dependency-injector loads those
settings when the container is created; :func:`check_schema` then
validates what the Configuration holds once ``config:`` was merged into it
(the container's defaults, the settings' values, the YAML file and
``--set``, after ``${VAR}``), and on success loads the validated values
back, as ``Configuration.from_pydantic`` would: the container sees ``8000``
for ``port: "8000"``.

Each pydantic error becomes one :class:`~haraka_di.ConfigError` naming the
file, the line and the key path
(``app.yaml:24: config.server.port: expected an integer, got 'eighty'``).
pydantic is imported only here, and only once a schema is declared: a
container without one never imports it.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._options import kind
from ..exceptions import ConfigError
from ._config import Settings

__all__ = ["check_schema", "declared_schemas", "settings_problems"]

_WANTS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "none_required": "null",
}
_SHORTER = (("Input should", "should"), ("Value error, ", ""), ("Assertion failed, ", ""))


def declared_schemas(configuration: Any) -> list[type[Any]]:
    """The pydantic model classes given to ``configuration`` with
    ``pydantic_settings=`` (classes, or the classes of instances); ``[]``
    when there are none. Imports pydantic only if there are some."""
    entries = list(getattr(configuration, "get_pydantic_settings", list)())
    if not entries:
        return []
    from pydantic import BaseModel

    classes = [entry if isinstance(entry, type) else type(entry) for entry in entries]
    return [cls for cls in classes if issubclass(cls, BaseModel)]


def check_schema(configuration: Any, settings: Settings) -> list[ConfigError]:
    """Validate the Configuration's value against every declared schema.

    Returns one ConfigError per problem (pydantic's errors at one key make
    one); with none, loads the validated values into ``configuration``
    (``from_dict``). No schema
    declared: nothing is checked or changed, ``[]``.
    """
    schemas = declared_schemas(configuration)
    if not schemas:
        return []
    import pydantic

    if not pydantic.VERSION.startswith("2."):
        message = (
            f"the schema needs pydantic 2, and pydantic {pydantic.VERSION} is installed: "
            'pip install "pydantic>=2"'
        )
        return [ConfigError(settings.where("config"), "config", message)]
    value = configuration()
    value = {} if value is None else value
    problems: list[ConfigError] = []
    validated: list[dict[str, Any]] = []
    for schema in schemas:
        try:
            model = schema.model_validate(value)
        except pydantic.ValidationError as exc:
            problems += _problems(exc.errors(), value, schema, settings)
        else:
            validated.append(model.model_dump(mode="python"))
    if problems:
        return _unique(problems)
    for values in validated:
        configuration.from_dict(values)
    return []


def settings_problems(exc: BaseException) -> list[ConfigError] | None:
    """The problems of a pydantic settings class that failed while the
    container was created (dependency-injector instantiates it to load it:
    its values come from the environment); None for any other exception."""
    module = type(exc).__module__
    if module.startswith("pydantic_settings"):
        return [ConfigError("", "config", f"pydantic settings: {' '.join(str(exc).split())}")]
    if not module.startswith("pydantic"):
        return None
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    found = _problems(exc.errors(), None, None, Settings())
    note = f" (read by {exc.title} from the environment when the container was created)"
    return [ConfigError(p.where, p.path, p.problem + note) for p in found]


# -- pydantic's errors -> one line each ----------------------------------------------


def _problems(
    errors: Sequence[Mapping[str, Any]],
    value: Any | None,
    schema: type[Any] | None,
    settings: Settings,
) -> list[ConfigError]:
    """Group pydantic's errors by the key they are about (a union's members
    fail separately at one key) and word each group as one problem.
    ``value``: what was validated (None: not known; the keys are then
    ``loc`` less its tags)."""
    groups: dict[tuple[str | int, ...], list[Mapping[str, Any]]] = {}
    for error in errors:
        loc = error["loc"]
        keys = _loc(loc) if value is None else _keys(loc, value, error["type"])
        groups.setdefault(keys, []).append(error)
    problems = []
    for keys, group in groups.items():
        path = ("config", *(str(k) for k in _until_index(keys)))
        message = _message(keys, group, schema)
        if value is None or _is_set(settings.config, keys):
            where = settings.where(*path)
        else:  # a missing key, or the container's own value: where its mapping is
            where = _nearest_line(settings, path)
            if group[0]["type"] != "missing":
                message += " (the container's default; the configuration does not set it)"
        problems.append(ConfigError(where, _dotted(keys), message))
    return problems


def _nearest_line(settings: Settings, path: tuple[str, ...]) -> str:
    """The line of the nearest parent of ``path`` that the file sets (not a
    ``--set``, which names only its own key), else the file."""
    for end in range(len(path) - 1, -1, -1):
        found = settings.locations.get(path[:end])
        if found and not found.startswith("--set "):
            return found
    return settings.source or ""


def _keys(loc: Iterable[str | int], value: Any, kind_: str) -> tuple[str | int, ...]:
    """The part of ``loc`` that names keys in ``value``: a union member's
    tag (``int``, ``function-after[...]``) or ``[key]`` is no key."""
    keys: list[str | int] = []
    node = value
    for part in loc:
        found, node = _child(node, part)
        if not found:
            if kind_ == "missing" and isinstance(node, dict) and isinstance(part, str):
                keys.append(part)  # the key that is not there
            break
        keys.append(part)
    return tuple(keys)


def _child(node: Any, key: str | int) -> tuple[bool, Any]:
    """``(True, node[key])`` for a key of a mapping or an index of a list;
    ``(False, node)`` otherwise."""
    if isinstance(node, dict) and key in node:
        return True, node[key]
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return True, node[key]
    return False, node


def _loc(loc: Iterable[str | int]) -> tuple[str | int, ...]:
    return tuple(p for p in loc if isinstance(p, int) or not _is_tag(p))


def _is_tag(part: str) -> bool:
    return part.startswith("[") or ("[" in part and part.endswith("]"))


def _until_index(keys: tuple[str | int, ...]) -> list[str | int]:
    """The keys before the first list index (the lines of list items are not kept)."""
    out: list[str | int] = []
    for key in keys:
        if isinstance(key, int):
            break
        out.append(key)
    return out


def _is_set(config: Any, keys: tuple[str | int, ...]) -> bool:
    node = config
    for key in keys:
        found, node = _child(node, key)
        if not found:
            return False
    return True


def _dotted(keys: tuple[str | int, ...]) -> str:
    return "config" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)


def _message(
    keys: tuple[str | int, ...], group: list[Mapping[str, Any]], schema: type[Any] | None
) -> str:
    first = group[0]
    if first["type"] == "missing":
        return "missing: the schema requires it; set it in config:"
    if first["type"] == "extra_forbidden":
        key = str(keys[-1]) if keys else ""
        fields = _fields_at(schema, keys[:-1])
        if not fields:
            return f"unknown key {key!r}: the schema has no such key"
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}; expected one of {', '.join(sorted(fields))}"
    wants = [_wants(error) for error in group]
    got = kind(first.get("input"))
    if all(wants):
        return f"expected {' or '.join(dict.fromkeys(w for w in wants if w))}, got {got}"
    said = dict.fromkeys(_said(error) for error in group)
    return f"{'; or '.join(said)}, got {got}"


def _wants(error: Mapping[str, Any]) -> str | None:
    if error["type"] in ("literal_error", "enum"):
        expected = (error.get("ctx") or {}).get("expected")
        return f"one of {expected}" if expected else None
    return _WANTS.get(error["type"])


def _said(error: Mapping[str, Any]) -> str:
    """pydantic's own words, shortened: ``Input should be greater than 0``
    -> ``should be greater than 0``; a validator's ``Value error, ...`` -> ``...``."""
    text = str(error.get("msg", error["type"]))
    for prefix, short in _SHORTER:
        if text.startswith(prefix):
            text = short + text[len(prefix) :]
    return text


def _fields_at(schema: type[Any] | None, keys: tuple[str | int, ...]) -> list[str] | None:
    """The keys the schema allows in the mapping at ``keys`` (None: unknown)."""
    model = schema
    for key in keys:
        fields = getattr(model, "model_fields", None)
        if not isinstance(key, str) or fields is None or key not in _by_key(fields):
            return None
        model = _model_in(_by_key(fields)[key].annotation)
    fields = getattr(model, "model_fields", None)
    return None if fields is None else list(_by_key(fields))


def _by_key(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Field infos by the key the input uses: the alias if there is one."""
    return {(info.alias or name): info for name, info in fields.items()}


def _model_in(annotation: Any) -> type[Any] | None:
    """The pydantic model in an annotation (``Server``, ``Server | None``)."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _unique(problems: list[ConfigError]) -> list[ConfigError]:
    seen: dict[str, ConfigError] = {}
    for p in problems:
        seen.setdefault(str(p), p)
    return list(seen.values())
