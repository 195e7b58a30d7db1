"""Binding the runtime into a container, building the service instances, and
undoing both when the orchestrator is done."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from dependency_injector import providers

from ._graph import ContainerGraph, ServiceSpec, effective
from ._service import Service

__all__ = ["Assembly", "BuildError"]


class BuildError(Exception):
    """Building service ``name`` from its provider failed (see __cause__)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class Assembly:
    """Everything done to a container for one run, so it can be undone."""

    def __init__(self) -> None:
        self._overridden: list[providers.Provider[Any]] = []
        self._singletons: list[providers.BaseSingleton[Any]] = []

    def bind_runtime(self, graph: ContainerGraph, runtime: object) -> None:
        """Bind the runtime, and drop the cached instances of non-service
        singletons that hold services: they hold another run's (or none's)
        instances, and are reset again by :meth:`undo`."""
        for slot in graph.runtime_slots:
            slot.override(providers.Object(runtime))
            self._overridden.append(slot)
        for singleton in graph.tied_singletons:
            singleton.reset()
            self._singletons.append(singleton)

    async def build(self, spec: ServiceSpec, timeout: float | None = None) -> Service:
        """Build ``spec``'s instance so that every later injection of that
        provider (by dependents, by routes) receives this same instance.
        An async provider gets ``timeout`` seconds (None: no limit)."""
        eff = effective(spec.provider)
        try:
            made = spec.provider()
            if not isinstance(made, Service) and inspect.isawaitable(made):
                made = await asyncio.wait_for(_awaited(made), timeout)
        except TimeoutError:
            message = f"building service {spec.name!r} did not finish within {timeout}s"
            raise BuildError(spec.name, message) from TimeoutError(message)
        except Exception as exc:
            raise BuildError(spec.name, f"building service {spec.name!r} failed: {exc!r}") from exc
        if not isinstance(made, Service):
            raise BuildError(
                spec.name,
                f"provider of {spec.name!r} promised a Service but built {made!r}",
            )
        if isinstance(eff, providers.BaseSingleton):
            self._singletons.append(eff)
        elif not isinstance(eff, providers.Object):
            spec.provider.override(providers.Object(made))
            self._overridden.append(spec.provider)
        return made

    def undo(self) -> None:
        """Reset what ``bind_runtime`` and ``build`` did, newest first."""
        for provider in reversed(self._overridden):
            provider.reset_last_overriding()
        for singleton in self._singletons:
            singleton.reset()
        self._overridden.clear()
        self._singletons.clear()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
