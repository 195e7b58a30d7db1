"""Which steps of a run may launch now: the frontier of its dependency graph.

A step is ready once every step it waits for has finished and every step of
an earlier group (priority level) has finished. Ready steps come out in rank
order (their order in the groups). Counts are kept only for the steps that
wait for something or are waited for, and the ready steps are a heap of
plain int ranks, taken all at once when nothing limits how many may run (why
this is fast: docs/performance.md, "What the engine does to be fast").
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["Frontier"]


class Frontier:
    """The ready steps of ``groups`` (priority levels in execution order, each
    listing its names in tie-break order); ``waits_for`` gives, for each
    name, the names that must finish first (names outside the groups are
    ignored). :attr:`ready` is empty when no step is ready (read once per
    drain: a check, not a call); :attr:`rank` gives each name's rank and
    :attr:`names` each rank's name."""

    def __init__(
        self, groups: Sequence[Sequence[str]], waits_for: Mapping[str, Iterable[str]]
    ) -> None:
        self._groups = groups
        everything = self.names = list(itertools.chain.from_iterable(groups))  # by rank
        rank = self.rank = dict(zip(everything, range(len(everything)), strict=True))
        self._group_of: dict[str, int] = {}
        for g, names in enumerate(groups):
            self._group_of.update(dict.fromkeys(names, g))
        # only the names that wait for something, or are waited for, have entries
        self._successors: dict[str, list[str]] = {}
        self._missing: dict[str, int] = {}
        for name in everything:
            for before in waits_for.get(name, ()):
                if before in rank:
                    self._successors.setdefault(before, []).append(name)
                    self._missing[name] = self._missing.get(name, 0) + 1
        self._left = [len(g) for g in groups]  # unfinished steps per group
        self._group = -1  # the group whose steps may launch now
        self.ready: list[int] = []  # the ranks of the ready steps, a heap
        self._advance()

    def take(self, room: int | None) -> list[int]:
        """The ranks of up to ``room`` ready steps (all of them if None), in
        rank order (:attr:`names` has their names); they are no longer ready."""
        ready = self.ready
        if room is None or room >= len(ready):
            if len(ready) > 1:
                ready.sort()
            self.ready = []
            return ready
        return [heapq.heappop(ready) for _ in range(room)]

    def finished(self, name: str, release: bool = True) -> None:
        """``name`` has finished. With ``release``, the steps waiting for it
        may become ready, and so may the next group once this one is done;
        without, nothing new becomes ready (a run that stops launching)."""
        group = self._group_of[name]
        self._left[group] -= 1
        if not release:
            return
        missing = self._missing
        for successor in self._successors.get(name, ()):
            missing[successor] -= 1
            if missing[successor] == 0 and self._group_of[successor] == self._group:
                heapq.heappush(self.ready, self.rank[successor])
        if group == self._group and self._left[group] == 0:
            self._advance()

    def _advance(self) -> None:
        """Open the next group(s): push their steps that wait for nothing."""
        groups = self._groups
        g = self._group
        while g + 1 < len(groups):
            g += 1
            for name in groups[g]:
                if not self._missing.get(name):
                    heapq.heappush(self.ready, self.rank[name])
            if self._left[g]:
                break
        self._group = g
