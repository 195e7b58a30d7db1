"""Core behaviour found while writing the user guide, pinned by tests."""

from __future__ import annotations

from haraka_di.testing import run_services

from .app import Journal, application


async def test_plan_during_a_run_keeps_the_edges_of_factory_services() -> None:
    # `worker` is a Factory: the run pins its instance with an Object override,
    # which must not make plan() (called while running) forget its edges.
    container = application(Journal())
    async with run_services(container) as orch:
        assert orch.plan().dependencies["worker"] == ("infra.db",)
        assert orch.plan().order.index("infra.db") < orch.plan().order.index("worker")
    assert orch.plan().dependencies["worker"] == ("infra.db",)
