"""haraka_di: run an application's long-lived services in the right order.

Services are declared as dependency-injector providers; the constructor
arguments that wire one service into another are the dependency graph.
"""

from ._graph import ContainerGraph
from ._orchestrator import Orchestrator
from ._plan import Plan
from ._report import Event, ServiceReport
from ._runtime import Runtime
from ._service import LifecycleState, Service, ServiceState
from ._tasks import RestartPolicy, TaskReport
from .exceptions import (
    CircularDependencyError,
    ConfigError,
    DisabledDependencyError,
    DuplicateServiceError,
    HarakaError,
    LifecycleError,
    ReadinessTimeoutError,
    ServeError,
    ShutdownError,
    StartupError,
    TargetError,
    UnknownDependencyError,
    UnknownServiceError,
)

__all__ = [
    "CircularDependencyError",
    "ConfigError",
    "ContainerGraph",
    "DisabledDependencyError",
    "DuplicateServiceError",
    "Event",
    "HarakaError",
    "LifecycleError",
    "LifecycleState",
    "Orchestrator",
    "Plan",
    "ReadinessTimeoutError",
    "RestartPolicy",
    "Runtime",
    "ServeError",
    "Service",
    "ServiceReport",
    "ServiceState",
    "ShutdownError",
    "StartupError",
    "TargetError",
    "TaskReport",
    "UnknownDependencyError",
    "UnknownServiceError",
]

__version__ = "0.1.0"

# Public names say where users import them from (tracebacks, reprs, docs).
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
