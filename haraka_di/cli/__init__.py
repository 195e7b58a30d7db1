"""The ``haraka`` command (also ``python -m haraka_di``), and what it is built from.

- ``haraka run TARGET [--config FILE] [--set KEY=VALUE ...]``: run the services
  until SIGINT/SIGTERM, then stop them in reverse order.
- ``haraka graph TARGET [--format text|mermaid|dot|json]``: print the graph.
- ``haraka check TARGET [--config FILE]``: validate without starting anything.

What ``haraka run`` is built from is public here, for programs that run their
own orchestrator: the YAML loader (``load_config(path, ["config.x=1"])``), the
builder that turns its settings into an orchestrator (checking ``config:``
against the container's pydantic schema, when it declares one; every
problem found comes in one ``ConfigProblems``), and the systemd notifier
(an orchestrator listener, defined in the core). This package imports the
core; the core never imports it.
"""

from .._systemd import SystemdNotifier
from ..exceptions import ConfigError
from ._build import build_orchestrator
from ._commands import main
from ._config import ConfigProblems, Settings, load_config

__all__ = [
    "ConfigError",
    "ConfigProblems",
    "Settings",
    "SystemdNotifier",
    "build_orchestrator",
    "load_config",
    "main",
]
