"""Settings + container -> a configured :class:`~haraka_di.Orchestrator`.

This is where a loaded configuration takes effect; loading it
(:func:`~haraka_di.cli.load_config`) only reads and validates.
:func:`build_orchestrator` is what ``haraka run``, ``graph`` and ``check``
use, and the entry point for programs that run their own orchestrator from
a YAML file (``Settings.apply`` is a shorthand for it).
"""

from __future__ import annotations

from typing import Any

from .._graph import as_container, container_name, is_container
from .._orchestrator import Orchestrator
from ..exceptions import ConfigError
from ._config import Settings

__all__ = ["build_orchestrator", "configuration_of", "load_config_section"]


def build_orchestrator(
    container: Any, settings: Settings | None = None, **orchestrator_options: Any
) -> Orchestrator:
    """Build the orchestrator ``settings`` describe for ``container``.

    In order: a container class is instantiated (so the configuration goes
    into the instance that runs); ``config:`` is loaded into its
    ``providers.Configuration``; the Orchestrator is created with the
    ``orchestrator:`` options, ``orchestrator_options`` taking precedence
    (``handle_signals=False``, ...); the ``services:`` entries are checked
    against the container's services and applied with ``configure()``.

    Nothing starts. Raises :class:`~haraka_di.ConfigError` (naming the file,
    line and key) for a ``config:`` section without a Configuration provider
    to take it or a ``services:`` entry naming no service; the Orchestrator's
    own TypeError/ValueError for a bad ``orchestrator_options`` value.
    """
    settings = settings if settings is not None else Settings()
    if is_container(container):
        container = as_container(container)
    load_config_section(settings, container)
    orchestrator = Orchestrator(container, **{**settings.orchestrator, **orchestrator_options})
    settings.check_services(s.name for s in orchestrator.graph().services)
    for name, options in settings.services.items():
        if options:
            orchestrator.configure(name, **options)
    return orchestrator


def load_config_section(settings: Settings, container: Any) -> None:
    """Load ``config:`` into the container's ``providers.Configuration``
    (see :func:`configuration_of`); ConfigError when it has none."""
    if not settings.config:
        return
    target = configuration_of(container)
    if target is None:
        raise ConfigError(
            settings.where("config"),
            "config",
            f"{container_name(container)} has no providers.Configuration to load this "
            "section into; declare `config = providers.Configuration()` or remove `config:`",
        )
    target.from_dict(settings.config)


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
