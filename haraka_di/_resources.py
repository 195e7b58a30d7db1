"""The start and the stop of one ``providers.Resource`` node.

Start is the provider's own initialisation (``provider.init()``), stop its
own shutdown (``provider.shutdown()``: the code after ``yield``,
``Resource.shutdown()``, ``__exit__``/``__aexit__``), exactly once each, on
the provider that really runs (the last override). Afterwards the provider
is not ``initialized``, as ``shutdown_resources()`` leaves it, so a later
``shutdown_resources()`` is a no-op and the next run initialises again.

Sync initialisers run in a worker thread. dependency-injector calls a sync
initialiser (a function, a generator, a ``@contextmanager`` function, a
``resources.Resource``) inline; on the event loop a slow one (a connection
that retries for 30 s) would block the loop, and the SIGTERM handler with
it: the signal would only be seen once the init returned. In a thread the
loop stays responsive: a start timeout or a signal cancels the start at
once, and the rollback of the other nodes proceeds.

A thread cannot be cancelled, though. A cancelled sync start therefore
*abandons* its thread: the initialiser keeps running, and when it returns
the same thread runs the provider's shutdown at once (the resource was
opened for nobody), so nothing stays open as long as the process lives.
:meth:`ResourceUnit.stop` after a cancelled start waits for that thread
(under whatever timeout the caller puts on the stop) and raises what the
cleanup raised; a rollback that stops the cancelled node therefore reports
it, and a process that exits right after a failed startup still closes what
the init opened, as long as the init returns within that stop timeout. The
thread is a daemon: an init that never returns does not keep the process
from exiting (the OS then reclaims what it held, as after a kill).

Sync shutdowns run in a thread too (closing a pool can block); a cancelled
(timed-out) stop leaves that thread to finish: dependency-injector has
already forgotten the state, so the shutdown still runs exactly once.

Async initialisers (``async def``, async generators,
``@asynccontextmanager`` functions, ``resources.AsyncResource``) run on the
loop, in the task dependency-injector creates for them: ``start()`` returns
that task itself, and the scheduler watches it (no task or coroutine of
haraka_di's own around it: the start of 1,000 independent Resources costs
a third less). Cancelling it cancels the initialiser itself, which is the
most dependency-injector allows: the ``CancelledError`` is raised inside it
at its current ``await``, so its own ``try``/``finally`` and ``async with``
blocks close what it opened so far, and dependency-injector resets the
provider. If the initialiser had already finished when the cancellation
came, the cancellation does nothing: the start succeeded, and whoever
started it stops it (a rollback does).

A Resource whose arguments come from an asynchronous provider (an async
Resource, a ``Coroutine``) is initialised asynchronously by
dependency-injector even when its initialiser is sync, so it runs on the
loop as well. Threads share the providers with the loop: the nodes it
depends on have started before, but a plain ``Singleton`` built by both a
threaded init and concurrently starting code may be built twice (declare it
``ThreadSafeSingleton`` if that matters).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
import types
from collections.abc import Callable
from typing import Any

from dependency_injector import providers, resources

from ._graph import effective, injections, is_provider

__all__ = ["ResourceUnit"]

log = logging.getLogger("haraka_di")


class ResourceUnit:
    """Start and stop one Resource node.

    ``start()`` begins the initialisation and returns its future at once
    (no coroutine or task of haraka_di's own around it: for an async
    initialiser it is the task dependency-injector creates anyway); the
    resource's value is then :attr:`value`. Cancelling that future cancels
    the initialisation (an async initialiser at its current ``await``; a
    sync one is abandoned to its thread, which closes what it opens).
    ``stop()`` shuts the resource down; it is safe after any outcome of the
    start: after a successful one it shuts the resource down; after a
    cancelled or abandoned one it waits for the cleanup of whatever the init
    still opened; otherwise it does nothing. After ``stop()`` the unit can
    be started again (next run).
    """

    kind = "Resource"
    building = False  # (initialising is its whole start)
    direct = True  # start() returns a future under way: the scheduler needs no task
    __slots__ = ("_init", "_leftover", "_running", "_thread", "_threaded", "name", "provider")

    def __init__(self, name: str, provider: providers.Provider[Any]) -> None:
        self.name = name
        self.provider = provider
        self._init: asyncio.Future[Any] | None = None  # the initialisation start() began
        self._running: providers.Resource[Any] | None = None  # what it initialises
        self._threaded = False  # is it initialised in a worker thread?
        self._leftover: asyncio.Future[Any] | None = None  # cleanup after a cancelled start
        self._thread: tuple[_Handoff, asyncio.Future[Any]] | None = None  # a threaded init's

    @property
    def started(self) -> bool:
        """Is the resource initialised by this unit and not yet stopped?"""
        return self._leftover is None and _succeeded(self._init)

    @property
    def value(self) -> Any:
        """The initialised resource (None unless :attr:`started`)."""
        return self._init.result() if self.started else None  # type: ignore[union-attr]

    @property
    def pending(self) -> bool:
        """After a start that did not count as one (cancelled or timed out):
        is something open all the same, or being closed, for ``stop()``? An
        init still running (abandoned: it ignored its cancellation) is not:
        whoever watches it stops it if it ever succeeds."""
        init = self._init
        if init is not None and init.cancelled():
            self._abandoned()
        return self._leftover is not None or _succeeded(init)

    def start(self) -> asyncio.Future[Any]:
        init = self._init
        if (init is not None or self._leftover is not None) and (
            self.pending or not init.done()  # type: ignore[union-attr]  # (pending if None)
        ):
            raise RuntimeError(f"resource {self.name!r} is already started; stop() it first")
        eff = effective(self.provider)
        if not isinstance(eff, providers.Resource):
            raise TypeError(f"{self.name!r} is no Resource now: its provider is {eff!r}")
        threaded = not _initializes_async(eff)
        init = self._init_in_thread(eff) if threaded else _as_future(eff.init())
        self._init, self._running, self._threaded = init, eff, threaded
        return init

    async def stop(self) -> None:
        init, eff = self._init, self._running
        if init is not None and init.cancelled():
            self._abandoned()
        elif init is not None and not init.done():
            # still starting: wait (a stop cut short keeps the state, so a
            # later stop still closes it once it opens)
            await asyncio.wait({init})
        leftover, self._leftover = self._leftover, None
        self._init = self._running = None
        if leftover is not None:
            await leftover
        elif eff is not None and _succeeded(init):
            await _shutdown(eff, self._threaded)

    def _init_in_thread(self, eff: providers.Resource[Any]) -> asyncio.Future[Any]:
        """The init in a worker thread, behind a future of its own: cancelling
        that one abandons the thread (see :meth:`_abandoned`)."""
        handoff = _Handoff(self.name, eff)
        done = _in_thread(handoff.run)
        init: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._thread = (handoff, done)

        def deliver(_: asyncio.Future[Any]) -> None:
            if init.cancelled():
                return  # (its own callback calls _abandoned())
            self._thread = None
            error = done.exception()
            if error is not None:
                init.set_exception(error)
            else:
                init.set_result(done.result())

        done.add_done_callback(deliver)
        init.add_done_callback(lambda _: self._abandoned() if init.cancelled() else None)
        return init

    def _abandoned(self) -> None:
        """After the future of a threaded init was cancelled (once, whoever
        sees it first): the thread closes what it opens, or, if it had
        already returned, the loop closes it."""
        thread, self._thread = self._thread, None
        if thread is None or self._running is None:
            return
        handoff, done = thread
        if handoff.abandon():
            self._leftover = done
        else:
            self._leftover = asyncio.ensure_future(_close_when_settled(done, self._running, True))


def _succeeded(init: asyncio.Future[Any] | None) -> bool:
    return init is not None and init.done() and not init.cancelled() and init.exception() is None


def _as_future(made: Any) -> asyncio.Future[Any]:
    """What ``provider.init()`` returned, as a future: dependency-injector
    returns one (its own task) for an async initialiser."""
    if isinstance(made, asyncio.Future):
        return made
    if inspect.isawaitable(made):
        return asyncio.ensure_future(made)
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(made)
    return done


class _Handoff:
    """The init of a worker thread, and who closes the resource if the
    start that asked for it was cancelled meanwhile: exactly one of the
    thread (abandoned first) and the loop (delivered first)."""

    def __init__(self, name: str, eff: providers.Resource[Any]) -> None:
        self.name = name
        self.eff = eff
        self._lock = threading.Lock()
        self._abandoned = False
        self._delivered = False

    def run(self) -> Any:
        try:
            value = self.eff.init()
        except BaseException:
            if self._settle():
                raise
            log.warning(
                "resource %r failed to initialise after its start was cancelled",
                self.name,
                exc_info=True,
            )
            return None
        if self._settle():
            return value
        self.eff.shutdown()  # opened for nobody (an error lands in stop())
        return None

    def _settle(self) -> bool:
        """Called by the thread when the init returned: is a start waiting?"""
        with self._lock:
            self._delivered = not self._abandoned
            return self._delivered

    def abandon(self) -> bool:
        """Tell the thread to close what it opens; False if it already
        delivered its outcome: then the caller closes it."""
        with self._lock:
            if self._delivered:
                return False
            self._abandoned = True
            return True


async def _close_when_settled(
    init: asyncio.Future[Any], eff: providers.Resource[Any], threaded: bool
) -> None:
    """Once the init of a cancelled start settles: shut down what it opened."""
    try:
        await init
    except BaseException:  # failed or cancelled: dependency-injector reset it
        return
    await _shutdown(eff, threaded)


def _in_thread(fn: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run ``fn`` in a new daemon thread (with the caller's contextvars);
    its result or exception lands in the returned future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, outcome: Any) -> None:
        if future.done():  # cancelled by someone: nothing to deliver
            if not ok:
                log.error("abandoned resource thread failed", exc_info=outcome)
            return
        if ok:
            future.set_result(outcome)
        else:
            future.set_exception(outcome)

    def work() -> None:
        try:
            outcome, ok = context.run(fn), True
        except BaseException as exc:
            outcome, ok = exc, False
        try:
            loop.call_soon_threadsafe(settle, ok, outcome)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            if not ok:
                log.error("resource thread failed after its loop closed", exc_info=outcome)

    threading.Thread(target=work, name="haraka-resource", daemon=True).start()
    return future


async def _shutdown(eff: providers.Resource[Any], threaded: bool) -> None:
    if threaded:
        # shielded: a timed-out stop leaves the thread to finish
        result = await asyncio.shield(_in_thread(eff.shutdown))
    else:
        result = eff.shutdown()
    if inspect.isawaitable(result):
        await result


def _initializes_async(eff: providers.Resource[Any]) -> bool:
    """Does dependency-injector initialise ``eff`` asynchronously (so that it
    must run on the loop)? Its initialiser is async, or an argument comes
    from an asynchronous provider - the one that would really be called (an
    override counts, what it overrides does not: the same walk as the
    graph's edges)."""
    made = eff.provides
    if _async_callable(made) or providers.is_provider(made):
        return True
    if eff.is_async_mode_enabled():
        return True
    seen: set[int] = set()
    stack = [c for c in (*eff.args, *eff.kwargs.values()) if is_provider(c)]
    while stack:
        child = stack.pop()
        if id(child) in seen:
            continue
        seen.add(id(child))
        if isinstance(child, providers.Delegate) or providers.is_delegated(child):
            continue  # injected as the provider itself, not called
        called = effective(child)
        if isinstance(called, providers.Coroutine) or called.is_async_mode_enabled():
            return True
        if isinstance(called, providers.Resource) and _async_callable(called.provides):
            return True
        stack.extend(c for c in injections(called) if is_provider(c))
    return False


def _async_callable(made: object) -> bool:
    if type(made) is types.FunctionType:
        # the usual cases, at a tenth of inspect's cost (this runs at every
        # start of every Resource): dependency-injector wraps a generator
        # function in (async)contextmanager, and every such wrapper runs the
        # same code; a plain function says it in its code flags
        code = made.__code__
        if code is _ASYNC_CM:
            return True
        if code is _SYNC_CM:
            return False
        attrs = made.__dict__
        if "__wrapped__" not in attrs and "_is_coroutine_marker" not in attrs:
            return bool(code.co_flags & _ASYNC_FLAGS)
    if isinstance(made, type):
        return issubclass(made, resources.AsyncResource)
    target = inspect.unwrap(made) if callable(made) else made  # a decorator wraps it
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


_ASYNC_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _wrapper_code(wrap: Callable[[Callable[[], Any]], Any]) -> types.CodeType:
    return wrap(lambda: None).__code__  # type: ignore[no-any-return]


_ASYNC_CM = _wrapper_code(contextlib.asynccontextmanager)
_SYNC_CM = _wrapper_code(contextlib.contextmanager)
