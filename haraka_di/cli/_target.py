"""Resolving the CLI's TARGET (``module:attr``) to a container instance."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from ..exceptions import TargetError

__all__ = ["TargetError", "load_target"]


def load_target(target: str, app_dir: str | None = ".") -> Any:
    """Import ``module:attr`` and return a container *instance*.

    ``attr`` (dots allowed) may be a DeclarativeContainer class (instantiated),
    a container instance, or a zero-argument callable returning either.
    ``app_dir`` is put first on ``sys.path`` (as uvicorn does), so
    ``haraka run containers.app:Application`` works from the project root.
    """
    from dependency_injector import containers

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
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    if isinstance(obj, containers.Container):
        return obj
    if isinstance(obj, type):
        if issubclass(obj, containers.DeclarativeContainer):
            try:
                return obj()
            except Exception as exc:
                raise TargetError(f"{target}: creating the container failed: {exc!r}") from exc
        raise TargetError(_not_a_container(target, obj))
    if callable(obj):
        try:
            made = obj()
        except Exception as exc:
            raise TargetError(f"{target}: calling the factory failed: {exc!r}") from exc
        if isinstance(made, type) and issubclass(made, containers.DeclarativeContainer):
            made = made()
        if isinstance(made, containers.Container):
            return made
        raise TargetError(
            f"{target} is a factory, but it returned {_short(made)}, not a "
            "dependency-injector container"
        )
    raise TargetError(_not_a_container(target, obj))


def _not_a_container(target: str, obj: object) -> str:
    return (
        f"{target} is {_short(obj)}, not a dependency-injector container: name a "
        "DeclarativeContainer class, a container instance, or a zero-argument factory "
        "returning one"
    )


def _short(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."
