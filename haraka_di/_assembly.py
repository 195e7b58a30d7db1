"""Binding the runtime into a container, building the service instances, and
undoing both when the orchestrator is done."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
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

    def build(self, spec: ServiceSpec) -> Service | Awaitable[Service]:
        """Build ``spec``'s instance so that every later injection of that
        provider (by dependents, by routes) receives this same instance:
        the Service, or an awaitable of it when the provider is async.

        Raises what the provider raised, or TypeError when it built no
        Service. The caller bounds the time: an async build is awaited, and
        if that is cancelled, so are the tasks dependency-injector started
        for it (``providers.Coroutine`` injections and the like), which are
        awaited before the cancellation goes on."""
        made, started = self._calling(spec.provider)
        if not isinstance(made, Service) and inspect.isawaitable(made):
            return self._built_later(spec, made, started)
        return self._built(spec, made)

    async def _built_later(self, spec: ServiceSpec, made: Any, started: _Started) -> Service:
        return self._built(spec, await _await_build(made, started))

    def _built(self, spec: ServiceSpec, made: Any) -> Service:
        if not isinstance(made, Service):
            raise TypeError(f"provider of {spec.name!r} promised a Service but built {made!r}")
        eff = effective(spec.provider)
        if isinstance(eff, providers.BaseSingleton):
            self._singletons.append(eff)
        elif not isinstance(eff, providers.Object):
            spec.provider.override(providers.Object(made))
            self._overridden.append(spec.provider)
        return made

    def _calling(self, provider: providers.Provider[Any]) -> tuple[Any, _Started]:
        """Call ``provider``, collecting the tasks it creates on the running
        loop (through the loop's task factory, chained to any custom one)."""
        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()
        started = _Started(previous)
        loop.set_task_factory(started.factory)
        try:
            return provider(), started
        finally:
            loop.set_task_factory(previous)

    def undo(self) -> None:
        """Reset what ``bind_runtime`` and ``build`` did, newest first."""
        for provider in reversed(self._overridden):
            provider.reset_last_overriding()
        for singleton in self._singletons:
            singleton.reset()
        self._overridden.clear()
        self._singletons.clear()


class _Started:
    """The tasks a build started, and whether the build was given up."""

    __slots__ = ("given_up", "previous", "tasks")

    def __init__(self, previous: Any) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.given_up = False
        self.previous = previous  # the loop's own task factory, chained to

    def factory(
        self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        wrapped = self.run(coro)
        previous = self.previous
        task = (
            previous(loop, wrapped, **kwargs)
            if previous is not None
            else asyncio.Task(wrapped, loop=loop, **kwargs)
        )
        if isinstance(task, asyncio.Task):
            self.tasks.append(task)
        return task

    async def run(self, coro: Any) -> Any:
        try:
            return await coro
        except asyncio.CancelledError as exc:
            if not self.given_up:
                raise  # cancelled for some other reason: stays a cancellation
            raise BuildCancelled("the build was given up") from exc


class BuildCancelled(Exception):
    """A task a build started was cancelled because the build was given up."""


async def _await_build(made: Any, started: _Started) -> Any:
    """Await an async build. If that is cancelled, cancel the tasks the
    build started and wait for them, so nothing of it runs on afterwards.

    dependency-injector chains its own futures with callbacks that expect
    results, not cancellations: its futures are never cancelled here (a
    task started for the build turns its cancellation into BuildCancelled
    once the build is given up), and the build's result is retrieved."""
    if not asyncio.isfuture(made):
        made = asyncio.ensure_future(made)
        started.tasks.append(made)
    try:
        return await asyncio.shield(made)
    except asyncio.CancelledError:
        started.given_up = True
        for task in started.tasks:
            task.cancel()
        await asyncio.wait([made, *started.tasks])
        if not made.cancelled():
            made.exception()  # retrieved: the build was given up
        raise
