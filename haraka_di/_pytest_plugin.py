"""pytest plugin (entry point ``pytest11``): fixtures that run a container.

- ``haraka_orchestrator``: a running :class:`~haraka_di.Orchestrator` for the
  container given by ``@pytest.mark.haraka(container=...)`` or by a
  ``haraka_container`` fixture you define; stopped after the test.
- ``haraka_recorder``: the :class:`~haraka_di.testing.Recorder` attached to
  that orchestrator (start/stop order, for the ``assert_*`` helpers).
- ``haraka_overrides``: ``{}`` unless you define it; the marker's
  ``overrides`` are applied on top.

The marker: ``@pytest.mark.haraka(container=None, overrides=None, only=None,
**orchestrator_options)``. The async fixture needs pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ._orchestrator import Orchestrator
from .testing import Recorder, run_services

__all__ = [
    "haraka_container",
    "haraka_orchestrator",
    "haraka_overrides",
    "haraka_recorder",
    "pytest_configure",
]

_MARKER_DOC = (
    "haraka(container=None, overrides=None, only=None, **orchestrator_options): "
    "what the haraka_orchestrator fixture runs (haraka_di)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_DOC)


@pytest.fixture
def haraka_container() -> object:
    """Define this fixture (returning a container class or instance) or use
    ``@pytest.mark.haraka(container=...)``."""
    raise pytest.UsageError(
        "haraka_orchestrator needs a container: define a `haraka_container` fixture "
        "returning your container, or mark the test "
        "@pytest.mark.haraka(container=MyContainer)"
    )


@pytest.fixture
def haraka_overrides() -> dict[str, object]:
    """Provider overrides for ``haraka_orchestrator`` (path -> provider/object)."""
    return {}


@pytest.fixture
def haraka_recorder() -> Recorder:
    """Records the start/stop order of ``haraka_orchestrator``'s services."""
    return Recorder()


def _settings(
    request: pytest.FixtureRequest,
) -> tuple[object, dict[str, object], Any, dict[str, Any]]:
    options: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers("haraka"))):  # closest wins
        if mark.args:
            raise pytest.UsageError(
                "@pytest.mark.haraka takes keyword arguments only: "
                "container=, overrides=, only= and Orchestrator options"
            )
        options.update(mark.kwargs)
    container = options.pop("container", None)
    if container is None:
        container = request.getfixturevalue("haraka_container")
    overrides = dict(request.getfixturevalue("haraka_overrides"))
    overrides.update(options.pop("overrides", None) or {})
    only = options.pop("only", None)
    return container, overrides, only, options


async def _running_orchestrator(
    request: pytest.FixtureRequest, haraka_recorder: Recorder
) -> AsyncIterator[Orchestrator]:
    """A running orchestrator for the test's container; stopped afterwards."""
    container, overrides, only, options = _settings(request)
    async with run_services(
        container, overrides, only, recorder=haraka_recorder, **options
    ) as orchestrator:
        yield orchestrator


def _without_pytest_asyncio() -> object:
    raise pytest.UsageError(
        "the haraka_orchestrator fixture needs pytest-asyncio: pip install pytest-asyncio"
    )


def _orchestrator_fixture() -> Any:
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
        return pytest.fixture(name="haraka_orchestrator")(_without_pytest_asyncio)
    return pytest_asyncio.fixture(name="haraka_orchestrator")(_running_orchestrator)


haraka_orchestrator = _orchestrator_fixture()
