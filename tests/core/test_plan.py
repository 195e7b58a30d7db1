"""Planning: effective priorities, waves, deterministic order, errors."""

import pytest

from haraka_di import (
    CircularDependencyError,
    DisabledDependencyError,
    DuplicateServiceError,
    UnknownDependencyError,
)
from haraka_di._plan import Node, make_plan


def test_dependency_inherits_the_priority_of_its_dependents() -> None:
    plan = make_plan([Node("db", 0), Node("api", 10, ("db",)), Node("worker", 5)])
    assert plan.effective_priority == {"db": 10, "api": 10, "worker": 5}
    assert plan.order == ("db", "api", "worker")


def test_higher_priority_starts_first_and_ties_keep_registration_order() -> None:
    plan = make_plan([Node("low", 1), Node("b", 5), Node("a", 5), Node("high", 9)])
    assert plan.order == ("high", "b", "a", "low")
    assert plan.waves() == [["high"], ["b", "a"], ["low"]]


def test_waves_follow_the_longest_chain_within_a_level() -> None:
    plan = make_plan(
        [
            Node("db"),
            Node("cache"),
            Node("repo", 0, ("db",)),
            Node("api", 0, ("repo", "cache")),
        ]
    )
    assert plan.wave == {"db": 0, "cache": 0, "repo": 1, "api": 2}
    assert plan.order == ("db", "cache", "repo", "api")


def test_waves_of_a_lower_level_come_after_every_higher_wave() -> None:
    plan = make_plan([Node("a", 5), Node("b", 5, ("a",)), Node("c", 0)])
    assert plan.wave == {"a": 0, "b": 1, "c": 2}


def test_closure_is_the_service_plus_transitive_dependencies() -> None:
    plan = make_plan([Node("db"), Node("repo", 0, ("db",)), Node("api", 0, ("repo",)), Node("x")])
    assert plan.closure(["api"]) == {"api", "repo", "db"}


def test_unknown_dependency_message_is_exact() -> None:
    with pytest.raises(UnknownDependencyError) as info:
        make_plan([Node("bar", 0, ("foo",))])
    assert str(info.value) == "Unknown dependency 'foo' for service 'bar'"


def test_dependency_on_a_disabled_service_is_named() -> None:
    with pytest.raises(DisabledDependencyError, match="'api' depends on 'db', which is disabled"):
        make_plan([Node("api", 0, ("db",))], disabled=["db"])


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(DuplicateServiceError, match="'db' is already registered"):
        make_plan([Node("db"), Node("db")])


def test_cycle_reports_the_whole_path() -> None:
    nodes = [
        Node("ok"),
        Node("x", 0, ("y",)),
        Node("y", 0, ("z", "ok")),
        Node("z", 0, ("x",)),
        Node("tail", 0, ("x",)),
    ]
    with pytest.raises(CircularDependencyError) as info:
        make_plan(nodes)
    assert str(info.value).startswith("Circular dependency detected at x: x -> y -> z -> x")
    assert info.value.cycle == ("x", "y", "z")


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(CircularDependencyError, match="detected at a: a -> a"):
        make_plan([Node("a", 0, ("a",))])


def test_cycle_entered_from_outside_names_the_cycle_not_the_entry() -> None:
    with pytest.raises(CircularDependencyError) as info:
        make_plan([Node("entry", 0, ("p",)), Node("p", 0, ("q",)), Node("q", 0, ("p",))])
    assert info.value.cycle == ("p", "q")


def test_planning_a_large_chain_is_linear_enough_to_finish() -> None:
    n = 20_000
    nodes = [Node(f"s{i}", 0, (f"s{i - 1}",) if i else ()) for i in range(n)]
    plan = make_plan(nodes)
    assert plan.order[0] == "s0"
    assert plan.order[-1] == f"s{n - 1}"
    assert plan.wave[f"s{n - 1}"] == n - 1
