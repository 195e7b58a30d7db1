"""The frontier of a run: which steps are ready, in which order."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from haraka_di._frontier import Frontier


def take(frontier: Frontier, room: int | None) -> list[str]:
    return [frontier.names[rank] for rank in frontier.take(room)]


def test_ready_steps_come_out_in_rank_order_once_their_dependencies_finished() -> None:
    frontier = Frontier([["a", "b", "c", "d"]], {"b": ["a"], "d": ["a", "c"]})
    assert take(frontier, None) == ["a", "c"]
    assert not frontier.ready
    frontier.finished("c")
    assert not frontier.ready  # d still waits for a
    frontier.finished("a")
    assert take(frontier, None) == ["b", "d"]


def test_a_group_opens_once_every_step_of_the_one_before_finished() -> None:
    frontier = Frontier([["a", "b"], ["c"], ["d"]], {"d": ["c"]})
    assert take(frontier, None) == ["a", "b"]
    frontier.finished("b")
    assert not frontier.ready
    frontier.finished("a")
    assert take(frontier, None) == ["c"]


def test_take_gives_at_most_room_steps_lowest_rank_first() -> None:
    frontier = Frontier([["a", "b", "c"]], {})
    assert take(frontier, 2) == ["a", "b"]
    assert take(frontier, 0) == []
    assert take(frontier, 5) == ["c"]


def test_a_finish_that_does_not_release_makes_nothing_ready() -> None:
    frontier = Frontier([["a", "b"], ["c"]], {"b": ["a"]})
    assert take(frontier, None) == ["a"]
    frontier.finished("a", release=False)
    assert not frontier.ready


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[list[str]], dict[str, list[str]], list[int | None]]:
    n = draw(st.integers(1, 12))
    names = [f"s{i}" for i in range(n)]
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=3))) if n > 1 else []
    bounds = [0, *cuts, n]
    groups = [names[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    waits = {
        name: [names[j] for j in draw(st.sets(st.integers(0, i - 1), max_size=3))] if i else []
        for i, name in enumerate(names)
    }
    rooms = draw(st.lists(st.one_of(st.none(), st.integers(1, 3)), min_size=1, max_size=5))
    return groups, waits, rooms


@settings(max_examples=200, deadline=None)
@given(runs(), st.randoms(use_true_random=False))
def test_every_step_comes_out_once_after_its_dependencies_and_earlier_groups(
    run: tuple[list[list[str]], dict[str, list[str]], list[int | None]], rnd: random.Random
) -> None:
    groups, waits, rooms = run
    group_of = {name: g for g, names in enumerate(groups) for name in names}
    frontier = Frontier(groups, waits)
    done: list[str] = []
    running: list[str] = []
    turn = 0
    while frontier.ready or running:
        taken = take(frontier, rooms[turn % len(rooms)])
        turn += 1
        assert taken == sorted(taken, key=lambda n: int(n[1:]))  # rank order
        for name in taken:
            assert all(d in done for d in waits[name])
            assert all(other in done for g in groups[: group_of[name]] for other in g)
        running += taken
        if running:
            name = running.pop(rnd.randrange(len(running)))
            done.append(name)
            frontier.finished(name)
    assert sorted(done) == sorted(group_of)
