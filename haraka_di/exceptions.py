"""The exceptions haraka_di raises, one per real failure.

Every public exception is defined here and derives from :class:`HarakaError`.
Planning, lifecycle and lifecycle-misuse errors are also :class:`RuntimeError`
(as the original API promised), lookup errors are also :class:`LookupError`,
readiness timeouts are also :class:`TimeoutError`, and errors in what a user
wrote (a configuration file, a CLI target) are also :class:`ValueError`, so
existing ``except`` clauses keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "CircularDependencyError",
    "ConfigError",
    "DisabledDependencyError",
    "DuplicateServiceError",
    "HarakaError",
    "LifecycleError",
    "ReadinessTimeoutError",
    "ServeError",
    "ShutdownError",
    "StartupError",
    "TargetError",
    "UnknownDependencyError",
    "UnknownServiceError",
]


class HarakaError(Exception):
    """Base class of every error raised by haraka_di."""


class LifecycleError(HarakaError, RuntimeError):
    """A call the orchestrator's current state does not allow (``run()``
    twice, ``use()`` after ``run()``, spawning a task while stopping); the
    message says what is allowed instead. Nothing changed."""


class CircularDependencyError(HarakaError, RuntimeError):
    """The services depend on each other in a cycle; nothing was started."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle: tuple[str, ...] = tuple(cycle)
        path = " -> ".join((*self.cycle, self.cycle[0]))
        super().__init__(
            f"Circular dependency detected at {self.cycle[0]}: {path}. "
            "Remove one of these dependencies, or inject it lazily with "
            "`.provider` (a Delegate orders nothing)."
        )


class UnknownDependencyError(HarakaError, RuntimeError):
    """A service names a dependency that is not registered."""

    def __init__(self, dependency: str, service: str) -> None:
        self.dependency = dependency
        self.service = service
        super().__init__(f"Unknown dependency {dependency!r} for service {service!r}")


class DisabledDependencyError(HarakaError, RuntimeError):
    """An enabled service depends on a service that configuration disabled."""

    def __init__(self, dependency: str, service: str) -> None:
        self.dependency = dependency
        self.service = service
        super().__init__(
            f"Service {service!r} depends on {dependency!r}, which is disabled: "
            f"enable {dependency!r} or disable {service!r} too"
        )


class DuplicateServiceError(HarakaError, RuntimeError):
    """Two services were registered under the same name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"A service named {name!r} is already registered; "
            "give the second one a different `name`"
        )


class UnknownServiceError(HarakaError, LookupError):
    """A name given to the orchestrator is not a registered service."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known: tuple[str, ...] = tuple(known)
        listed = ", ".join(repr(n) for n in self.known) or "none"
        super().__init__(f"Unknown service {name!r}; known services: {listed}")

    def __str__(self) -> str:  # LookupError would repr() the message otherwise
        return str(self.args[0])


class StartupError(HarakaError, RuntimeError):
    """Startup failed; every service that had started was stopped again.

    ``failures`` maps each failing service to its exception (empty when the
    startup was interrupted by a signal or a shutdown request, see
    ``signal``). The cause is chained: one failure is ``__cause__`` itself,
    several are gathered in an ``ExceptionGroup``.
    """

    def __init__(
        self,
        message: str,
        failures: Mapping[str, BaseException] | None = None,
        *,
        signal: int | None = None,
    ) -> None:
        super().__init__(message)
        self.failures: dict[str, BaseException] = dict(failures or {})
        self.signal = signal

    @property
    def services(self) -> tuple[str, ...]:
        """Names of the services whose start failed."""
        return tuple(self.failures)


class ShutdownError(HarakaError, RuntimeError, ExceptionGroup):  # type: ignore[misc,unused-ignore]
    """One or more stops (or shutdown tasks) failed; everything else stopped.

    It is an :class:`ExceptionGroup` of the causes, so ``except*`` works.
    ``failures`` maps each failing service (or shutdown task) to its error.
    """

    failures: dict[str, Exception]

    def __new__(cls, message: str, failures: Mapping[str, Exception]) -> ShutdownError:
        group = ExceptionGroup.__new__(cls, message, list(failures.values()))
        group.failures = dict(failures)
        return group

    def __init__(self, message: str, failures: Mapping[str, Exception]) -> None:
        ExceptionGroup.__init__(self, message, list(failures.values()))

    def derive(self, excs: Sequence[Exception]) -> ShutdownError:  # type: ignore[override]
        names = {id(e): n for n, e in self.failures.items()}
        return ShutdownError(self.message, {names.get(id(e), repr(e)): e for e in excs})


class ReadinessTimeoutError(HarakaError, TimeoutError):
    """``wait_for_all_ready`` gave up: some services are not ready."""

    def __init__(self, message: str, not_ready: Iterable[str], state: object) -> None:
        super().__init__(message)
        self.not_ready: tuple[str, ...] = tuple(not_ready)
        self.state = state


class ServeError(HarakaError, RuntimeError):
    """A managed server stopped serving on its own (failed to bind, its
    app's lifespan failed): the message carries what the server logged."""


class ConfigError(HarakaError, ValueError):
    """The configuration is invalid. ``str()`` is one line: where and what
    (``app.yaml:12: services.db.priority: expected an integer, got 'high'``)."""

    def __init__(self, where: str, path: str, message: str) -> None:
        self.where = where
        self.path = path
        self.problem = message
        prefix = f"{where}: " if where else ""
        key = f"{path}: " if path else ""
        super().__init__(f"{prefix}{key}{message}")


class TargetError(HarakaError, ValueError):
    """A CLI TARGET does not name a container; ``str()`` is one line saying why."""
