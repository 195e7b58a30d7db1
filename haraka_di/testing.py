"""Run a container's services for one test, with fakes, and check the order.

``run_services`` is an async context manager: it overrides providers, starts
the services (or a subset), yields the running :class:`Orchestrator`, and
afterwards stops everything and resets the overrides, even when the block
raises. :class:`Recorder` captures the order in which services started and
stopped; the ``assert_*`` helpers check it with messages that show what
really happened. The pytest plugin (``haraka_orchestrator``,
``haraka_recorder``) builds on both.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from dependency_injector import providers

from ._graph import as_container
from ._orchestrator import Orchestrator
from ._record import STARTED
from ._report import Event
from ._service import Service, ServiceState
from .exceptions import UnknownServiceError

__all__ = [
    "Recorder",
    "assert_started_before",
    "assert_started_in_order",
    "assert_stopped_before",
    "assert_stopped_in_reverse",
    "override_providers",
    "run_services",
]


@asynccontextmanager
async def run_services(
    container: object,
    overrides: Mapping[str, object] | None = None,
    only: Iterable[str] | None = None,
    *,
    recorder: Recorder | None = None,
    **orchestrator_options: Any,
) -> AsyncIterator[Orchestrator]:
    """Run ``container``'s services for the ``async with`` block.

    ``overrides`` maps provider paths (``"db"``, ``"infra.db"``) to
    replacement providers or plain objects (wrapped in ``providers.Object``).
    A replacement that is a :class:`~haraka_di.Service` is orchestrated; a
    plain object has no lifecycle and its dependents still start. The
    container's singletons are reset before the run (nothing built before
    the overrides leaks in) and after it; the overrides are undone after it.

    ``only`` starts those services and what they transitively depend on,
    nothing else. ``recorder`` is attached before anything starts. Other
    keyword arguments go to :class:`Orchestrator`; ``handle_signals``
    defaults to False (a test runner owns the process's signals).
    """
    if isinstance(only, str):
        raise TypeError(f"only= takes a list of service names, got the string {only!r}")
    target = as_container(container)
    _check_fakes(overrides or {})
    orchestrator_options.setdefault("handle_signals", False)
    with override_providers(target, overrides or {}):
        target.reset_singletons()
        try:
            orchestrator = Orchestrator(target, **orchestrator_options)
            if only is not None:
                _start_only(orchestrator, list(only))
            if recorder is not None:
                recorder.attach(orchestrator)
            async with orchestrator.running():
                yield orchestrator
        finally:
            target.reset_singletons()


def _check_fakes(overrides: Mapping[str, object]) -> None:
    seen: dict[int, str] = {}
    for path, value in overrides.items():
        if isinstance(value, Service):
            if id(value) in seen:
                raise ValueError(
                    f"the same {type(value).__name__} instance overrides both "
                    f"{seen[id(value)]!r} and {path!r}; a service instance is one node "
                    "(started once, named once): give each path its own instance"
                )
            seen[id(value)] = path


def _start_only(orchestrator: Orchestrator, names: list[str]) -> None:
    plan = orchestrator.plan()
    for name in names:
        if name not in plan.dependencies:
            raise UnknownServiceError(name, plan.order)
    keep = plan.closure(names)
    for name in plan.order:
        if name not in keep:
            orchestrator.configure(name, enabled=False)


@contextmanager
def override_providers(container: object, overrides: Mapping[str, object]) -> Iterator[Any]:
    """Override providers of ``container`` by path for the ``with`` block.

    Values that are not providers are wrapped in ``providers.Object``. Only
    the overrides made here are undone afterwards (``reset_last_overriding``),
    so overrides the container already had are kept. Yields the container.
    """
    target = as_container(container)
    done: list[providers.Provider[Any]] = []
    try:
        for path, replacement in overrides.items():
            provider = resolve_provider(target, path)
            if not isinstance(replacement, providers.Provider):
                replacement = providers.Object(replacement)
            provider.override(replacement)
            done.append(provider)
        yield target
    finally:
        while done:
            done.pop().reset_last_overriding()


def resolve_provider(container: Any, path: str) -> providers.Provider[Any]:
    """The provider at attribute path ``path`` (``"infra.db"``) of ``container``."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"override keys are provider paths like 'db' or 'infra.db', got {path!r}")
    parts = path.split(".")
    current = container
    for depth, part in enumerate(parts):
        found = current.providers.get(part)
        if found is None:
            where = ".".join(parts[:depth]) or "the container"
            known = ", ".join(sorted(current.providers)) or "none"
            raise LookupError(
                f"Cannot override {path!r}: {where} has no provider {part!r} (it has: {known})"
            )
        if depth == len(parts) - 1:
            return found  # type: ignore[no-any-return]
        if not isinstance(found, providers.Container):
            raise LookupError(
                f"Cannot override {path!r}: {'.'.join(parts[: depth + 1])!r} is not a nested "
                "container"
            )
        current = found.container
    raise AssertionError("unreachable: split() gives at least one part")  # pragma: no cover


class Recorder:
    """Records service state changes of an orchestrator, in order.

    ``recorder.attach(orchestrator)`` before ``run()`` (``run_services`` and
    the ``haraka_orchestrator`` fixture do it). ``starting``/``started``
    list services in the order they began / finished starting, ``stopping``
    /``stopped`` likewise for stops, ``failed`` those that failed, and
    ``timeline`` every ``(service, state)`` change.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.timeline: list[tuple[str, ServiceState]] = []
        self.orchestrator: Orchestrator | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last: dict[str, ServiceState] = {}

    def attach(self, orchestrator: Orchestrator) -> Recorder:
        """Subscribe to ``orchestrator`` (once; re-attaching moves it)."""
        self.detach()
        self.orchestrator = orchestrator
        self._unsubscribe = orchestrator.subscribe(self)
        return self

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.service is None or event.state is None:
            return
        if self._last.get(event.service) is not event.state:  # readiness-only events repeat it
            self._last[event.service] = event.state
            self.timeline.append((event.service, event.state))

    def last_state(self, name: str) -> ServiceState | None:
        """The last state recorded for ``name`` (None if it never changed)."""
        return self._last.get(name)

    def _first(self, states: Iterable[ServiceState]) -> list[str]:
        wanted = set(states)
        seen: dict[str, None] = {}
        for service, state in self.timeline:
            if state in wanted and service not in seen:
                seen[service] = None
        return list(seen)

    def index(self, name: str, states: Iterable[ServiceState]) -> int | None:
        """Position in ``timeline`` where ``name`` first reached one of ``states``."""
        wanted = set(states)
        for i, (service, state) in enumerate(self.timeline):
            if service == name and state in wanted:
                return i
        return None

    @property
    def starting(self) -> list[str]:
        return self._first([ServiceState.STARTING])

    @property
    def started(self) -> list[str]:
        """Services in the order their startup() returned."""
        return self._first(STARTED)

    @property
    def stopping(self) -> list[str]:
        return self._first([ServiceState.STOPPING])

    @property
    def stopped(self) -> list[str]:
        """Services in the order their shutdown() returned."""
        return self._first([ServiceState.STOPPED])

    @property
    def failed(self) -> list[str]:
        return self._first([ServiceState.FAILED])

    def describe(self) -> str:
        """The timeline, one ``service: state`` per line, for failure messages."""
        lines = [f"  {i:3} {s}: {st.value}" for i, (s, st) in enumerate(self.timeline)]
        return "recorded timeline:\n" + ("\n".join(lines) if lines else "  (nothing recorded)")

    def __repr__(self) -> str:
        return f"<Recorder started={self.started} stopped={self.stopped}>"


def _fail(message: str, recorder: Recorder) -> AssertionError:
    return AssertionError(f"{message}\n{recorder.describe()}")


def assert_started_before(recorder: Recorder, first: str, then: str) -> None:
    """``first`` finished starting before ``then`` began starting."""
    began = ServiceState.STARTING
    _assert_before(recorder, first, then, STARTED, began, ("start", "started", "starting"))


def assert_stopped_before(recorder: Recorder, first: str, then: str) -> None:
    """``first`` finished stopping before ``then`` began stopping."""
    done, began = [ServiceState.STOPPED], ServiceState.STOPPING
    _assert_before(recorder, first, then, done, began, ("stop", "stopped", "stopping"))


def _assert_before(
    recorder: Recorder,
    first: str,
    then: str,
    done_states: Iterable[ServiceState],
    began_state: ServiceState,
    words: tuple[str, str, str],
) -> None:
    verb, done_word, doing = words
    done = recorder.index(first, done_states)
    began = recorder.index(then, [began_state])
    if done is None:
        raise _fail(
            f"expected {first!r} to {verb} before {then!r}, but {first!r} never {done_word}",
            recorder,
        )
    if began is None:
        raise _fail(
            f"expected {first!r} to {verb} before {then!r}, but {then!r} never began {doing}",
            recorder,
        )
    if done > began:
        raise _fail(
            f"expected {first!r} to have {done_word} before {then!r} began {doing}, "
            f"but {then!r} began {doing} at #{began} and {first!r} {done_word} at #{done}",
            recorder,
        )


def assert_started_in_order(recorder: Recorder, names: Iterable[str]) -> None:
    """Each of ``names`` finished starting before the next began starting."""
    listed = list(names)
    for first, then in itertools.pairwise(listed):
        assert_started_before(recorder, first, then)


def assert_stopped_in_reverse(recorder: Recorder, *, exact: bool = False) -> None:
    """Every service that started was stopped, in the mirror of the start order.

    By default "mirror" is what the orchestrator promises: each service
    stopped before anything it depends on, and before every service of
    higher effective priority, began stopping (this needs the recorder to be
    attached, for the run's plan). ``exact=True`` asks for the stop order to
    be exactly the reversed start order (true with ``max_concurrency=1``).
    """
    started, stopped = recorder.started, recorder.stopped
    never = [n for n in started if n not in stopped]
    if never:
        last = ", ".join(f"{n}: {recorder.last_state(n).value}" for n in never)  # type: ignore[union-attr]
        raise _fail(f"services started but never stopped: {never} (now {last})", recorder)
    if exact:
        if stopped != started[::-1]:
            raise _fail(
                f"expected the stop order to be the reversed start order {started[::-1]}, "
                f"got {stopped}",
                recorder,
            )
        return
    if recorder.orchestrator is None:
        raise ValueError(
            "assert_stopped_in_reverse needs the run's plan: attach the recorder with "
            "recorder.attach(orchestrator) before run(), or pass exact=True"
        )
    reports = {r.name: r for r in recorder.orchestrator.report()}
    ran = [n for n in started if n in reports]
    for later in ran:
        for earlier in ran:
            rep, dep = reports[later], reports[earlier]
            must = earlier in rep.dependencies or (dep.effective_priority > rep.effective_priority)
            if must:
                assert_stopped_before(recorder, later, earlier)
