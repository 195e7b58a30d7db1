"""build_orchestrator: where loaded settings take effect (loading builds nothing)."""

from __future__ import annotations

from pathlib import Path

from haraka_di import Orchestrator
from haraka_di.cli import build_orchestrator, load_config

from .test_config import FULL, App, write


def test_loading_touches_no_container_and_building_applies_everything(tmp_path: Path) -> None:
    container = App()
    settings = load_config(write(tmp_path, FULL))
    assert container.config.db.label() is None  # loaded, not applied
    orchestrator = build_orchestrator(container, settings)
    assert isinstance(orchestrator, Orchestrator)
    assert container.config.db.label() == "main"
    assert orchestrator.max_concurrency == 2
    assert orchestrator.plan().priority["db"] == 10


def test_apply_is_build_orchestrator(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, FULL))
    by_apply = settings.apply(App(), drain_seconds=0)
    by_build = build_orchestrator(App(), settings, drain_seconds=0)
    assert by_apply.drain_seconds == by_build.drain_seconds == 0  # keyword options win
    assert by_apply.plan().order == by_build.plan().order


def test_a_container_class_gets_its_config_in_the_instance_that_runs(tmp_path: Path) -> None:
    orchestrator = build_orchestrator(App, load_config(write(tmp_path, FULL)))
    assert orchestrator.container.declarative_parent is App
    assert orchestrator.container.config.db.label() == "main"
    assert App.config.db.label() is None  # the class is left alone


def test_no_settings_means_defaults() -> None:
    orchestrator = build_orchestrator(App())
    assert orchestrator.plan().order == ("db", "cache", "web")
