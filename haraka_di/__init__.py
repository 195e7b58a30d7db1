"""haraka_di: run an application's long-lived services in the right order.

Services are declared as dependency-injector providers; the constructor
arguments that wire one service into another are the dependency graph.
"""

from ._orchestrator import Orchestrator
from ._plan import Plan
from ._report import Event, ServiceReport
from ._runtime import Runtime
from ._service import LifecycleState, Service, ServiceState
from ._tasks import RestartPolicy, TaskReport
from .exceptions import (
    CircularDependencyError,
    DisabledDependencyError,
    DuplicateServiceError,
    HarakaError,
    ReadinessTimeoutError,
    ShutdownError,
    StartupError,
    UnknownDependencyError,
    UnknownServiceError,
)

__all__ = [
    "CircularDependencyError",
    "DisabledDependencyError",
    "DuplicateServiceError",
    "Event",
    "HarakaError",
    "LifecycleState",
    "Orchestrator",
    "Plan",
    "ReadinessTimeoutError",
    "RestartPolicy",
    "Runtime",
    "Service",
    "ServiceReport",
    "ServiceState",
    "ShutdownError",
    "StartupError",
    "TaskReport",
    "UnknownDependencyError",
    "UnknownServiceError",
]

__version__ = "0.1.0"
