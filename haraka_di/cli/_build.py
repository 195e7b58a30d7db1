"""Settings + container -> a configured :class:`~haraka_di.Orchestrator`.

This is where a loaded configuration takes effect; loading it
(:func:`~haraka_di.cli.load_config`) only reads and validates.
:func:`build_orchestrator` is what ``haraka run`` and ``graph`` use, and the
entry point for programs that run their own orchestrator from a YAML file
(``Settings.apply`` is a shorthand for it). :func:`check_configuration` is
what ``haraka check`` uses: loading and building in one pass that collects
every problem instead of stopping at the first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .._graph import as_container, container_name, is_container
from .._orchestrator import Orchestrator
from ..exceptions import ConfigError
from ._config import Settings, collect_config, in_file_order, raise_problems
from ._schema import check_schema, settings_problems

__all__ = [
    "build_orchestrator",
    "check_configuration",
    "configuration_of",
    "load_config_section",
]


def build_orchestrator(
    container: Any, settings: Settings | None = None, **orchestrator_options: Any
) -> Orchestrator:
    """Build the orchestrator ``settings`` describe for ``container``.

    In order: a container class is instantiated (so the configuration goes
    into the instance that runs); ``config:`` is loaded into its
    ``providers.Configuration`` and, when that declares a pydantic schema
    (``pydantic_settings=[...]``), checked against it; the Orchestrator is
    created with the ``orchestrator:`` options, ``orchestrator_options``
    taking precedence (``handle_signals=False``, ...); the ``services:``
    entries are checked against the container's services and applied with
    ``configure()``.

    Nothing starts. Raises :class:`~haraka_di.cli.ConfigProblems` (a
    ConfigError; every problem names the file, line and key) for a
    ``config:`` section without a Configuration provider to take it, values
    the schema rejects, or ``services:`` entries naming no service; the
    Orchestrator's own TypeError/ValueError for a bad ``orchestrator_options``
    value.
    """
    problems: list[ConfigError] = []
    orchestrator = _build(container, settings or Settings(), problems, orchestrator_options)
    raise_problems(in_file_order(problems))
    assert orchestrator is not None  # no problem: it was built
    return orchestrator


def check_configuration(
    container: Any,
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
) -> tuple[Orchestrator | None, Settings, list[ConfigError]]:
    """Load ``path`` and ``overrides`` and build for ``container``, collecting
    every problem: ``(orchestrator, settings, problems)``.

    A bad key is left out and the rest still loads and builds, so the
    problems of the file, of the schema and of ``services:`` come together
    (a schema problem under a key the file already has a problem for is not
    repeated). ``orchestrator`` is None only when it could not be built at
    all (a container whose pydantic settings failed as it was created).
    """
    settings, problems = collect_config(path, overrides)
    found: list[ConfigError] = []
    orchestrator = _build(container, settings, found, {})
    bad = [p.path for p in problems if p.path]
    problems += [p for p in found if not any(_under(p.path, b) for b in bad)]
    return orchestrator, settings, in_file_order(problems)


def _build(
    container: Any, settings: Settings, problems: list[ConfigError], options: dict[str, Any]
) -> Orchestrator | None:
    if is_container(container):
        try:
            container = as_container(container)
        except Exception as exc:  # dependency-injector loads pydantic settings here
            found = settings_problems(exc)
            if found is None:
                raise
            problems += found
            return None
    problems += _config_problems(settings, container)
    orchestrator = Orchestrator(container, **{**settings.orchestrator, **options})
    unknown = settings.unknown_services(s.name for s in orchestrator.graph().services)
    problems += unknown
    skip = {p.path.removeprefix("services.") for p in unknown}
    for name, service_options in settings.services.items():
        if service_options and name not in skip:
            orchestrator.configure(name, **service_options)
    return orchestrator


def load_config_section(settings: Settings, container: Any) -> None:
    """Load ``config:`` into the container's ``providers.Configuration``
    (see :func:`configuration_of`) and check it against the schema that
    declares, if any; :class:`~haraka_di.cli.ConfigProblems` for every
    problem, or when there is no Configuration to load ``config:`` into."""
    raise_problems(_config_problems(settings, container))


def _config_problems(settings: Settings, container: Any) -> list[ConfigError]:
    target = configuration_of(container)
    if target is None:
        if not settings.config:
            return []
        return [
            ConfigError(
                settings.where("config"),
                "config",
                f"{container_name(container)} has no providers.Configuration to load this "
                "section into; declare `config = providers.Configuration()` or remove `config:`",
            )
        ]
    if settings.config:
        target.from_dict(settings.config)
    problems = check_schema(target, settings)
    if problems and settings.config:  # leave the container as it was
        target.reset_last_overriding()
    return problems


def configuration_of(container: Any) -> Any:
    """The container's Configuration provider: the one named ``config``, else
    the only one, else None."""
    from dependency_injector import providers

    found = {
        name: p
        for name, p in getattr(container, "providers", {}).items()
        if isinstance(p, providers.Configuration)
    }
    if "config" in found:
        return found["config"]
    if len(found) == 1:
        return next(iter(found.values()))
    return None


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith((f"{parent}.", f"{parent}["))
