"""Binding the runtime into a container, building the service instances, and
undoing both when the orchestrator is done."""

from __future__ import annotations

import inspect
from typing import Any

from dependency_injector import providers

from ._graph import ContainerGraph, ServiceSpec, effective
from ._service import Service

__all__ = ["Assembly"]


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

    async def build(self, spec: ServiceSpec) -> Service:
        """Build ``spec``'s instance so that every later injection of that
        provider (by dependents, by routes) receives this same instance.

        Raises what the provider raised, or TypeError when it built no
        Service. The caller bounds the time (an async provider is awaited)."""
        eff = effective(spec.provider)
        made = spec.provider()
        if not isinstance(made, Service) and inspect.isawaitable(made):
            made = await made
        if not isinstance(made, Service):
            raise TypeError(f"provider of {spec.name!r} promised a Service but built {made!r}")
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
