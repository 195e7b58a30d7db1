"""Resolving the CLI's TARGET (``module:attr``) to a container instance.

What counts as a container is the core's answer (:func:`haraka_di._graph.is_container`,
:func:`~haraka_di._graph.as_container`); this module adds the importing and
the one-line :class:`~haraka_di.TargetError` for everything that can go wrong.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

from .._graph import as_container, is_container
from ..exceptions import TargetError
from ._schema import settings_problems

if TYPE_CHECKING:
    from dependency_injector import containers

__all__ = ["TargetError", "load_target"]


def load_target(target: str, app_dir: str | None = ".") -> containers.Container:
    """Import ``module:attr`` and return a container *instance*.

    ``attr`` (dots allowed) may be a DeclarativeContainer class (instantiated),
    a container instance, or a zero-argument callable returning either.
    ``app_dir`` is put first on ``sys.path`` (as uvicorn does), so
    ``haraka run containers.app:Application`` works from the project root.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(
            f"TARGET must be MODULE:ATTRIBUTE (e.g. containers.app:Application), got {target!r}"
        )
    if app_dir is not None:
        path = os.path.abspath(app_dir)
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise TargetError(
                f"cannot import {module_name!r}: no module named {exc.name!r} "
                "(run from the project root, or pass --app-dir)"
            ) from exc
        raise TargetError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise TargetError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    if is_container(obj):
        return _instance(obj, target, "creating the container")
    if isinstance(obj, type):
        raise TargetError(_not_a_container(target, obj))
    if callable(obj):
        try:
            made = obj()
        except Exception as exc:
            raise TargetError(f"{target}: calling the factory failed: {exc!r}") from exc
        if is_container(made):
            return _instance(made, target, "creating the container it returned")
        raise TargetError(
            f"{target} is a factory, but it returned {_short(made)}, not a "
            "dependency-injector container"
        )
    raise TargetError(_not_a_container(target, obj))


def _instance(obj: object, target: str, doing: str) -> containers.Container:
    """``as_container(obj)``, a failing container constructor as a TargetError
    (one line: pydantic settings that fail as dependency-injector loads them
    are worded like the configuration's problems)."""
    try:
        return as_container(obj)
    except Exception as exc:
        found = settings_problems(exc)
        why = "; ".join(str(p) for p in found) if found else repr(exc)
        raise TargetError(f"{target}: {doing} failed: {why}") from exc


def _not_a_container(target: str, obj: object) -> str:
    return (
        f"{target} is {_short(obj)}, not a dependency-injector container: name a "
        "DeclarativeContainer class, a container instance, or a zero-argument factory "
        "returning one"
    )


def _short(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."
