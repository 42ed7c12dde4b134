"""The process's error groups: a count, first and last seen, and a recent sample trace id for each.

Bounded: at most :data:`MAX_GROUPS` groups a process; a failure of any further kind is counted in one
:data:`OTHER` group, so a process sends at most ``MAX_GROUPS + 1`` series per instrument whatever it meets.
The sample trace id changes at most once per :data:`SAMPLE_KEPT_NS` (the latest failure's after that), so the
``trace_id`` attribute of ``obs.errors.last_seen`` makes at most one new series a minute per group.

Each process counts its own (a forked worker starts empty), as the RED figures do.
"""

from __future__ import annotations

import threading
from typing import Final

from obs.agent._support.fork import STATE, at_fork_weakly

__all__ = ["MAX_GROUPS", "OTHER", "SAMPLE_KEPT_NS", "Group", "GroupKey", "Groups", "groups"]

MAX_GROUPS: Final = 100
"""Groups a process keeps apart; the rest share :data:`OTHER`."""

SAMPLE_KEPT_NS: Final = 60 * 10**9
"""How long a group keeps its sample trace id before the next failure's replaces it."""

GroupKey = tuple[str, str, str]
"""``(exception type, function, operation)``."""

OTHER: Final[GroupKey] = ("other", "other", "")
"""Where failures beyond :data:`MAX_GROUPS` kinds are counted."""


class Group:
    """One group's figures (a plain class: dataclasses would load ``inspect`` into the app at its first
    failure)."""

    __slots__ = ("count", "first_ns", "last_ns", "sampled_ns", "trace_id")

    def __init__(self, count: int, first_ns: int, last_ns: int, trace_id: int, sampled_ns: int) -> None:
        self.count, self.first_ns, self.last_ns = count, first_ns, last_ns
        self.trace_id, self.sampled_ns = trace_id, sampled_ns


class Groups:
    """Thread-safe; :meth:`add` is called only when something failed."""

    def __init__(self, limit: int = MAX_GROUPS) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._groups: dict[GroupKey, Group] = {}
        at_fork_weakly(STATE, self, after_in_child="_after_fork_in_child")

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._groups = {}

    def add(self, key: GroupKey, trace_id: int, now_ns: int) -> bool:
        """Count one failure; True when it is the process's first (its instruments are to be made)."""
        with self._lock:
            first = not self._groups
            group = self._groups.get(key)
            if group is None:
                if len(self._groups) >= self._limit and key != OTHER:
                    key = OTHER
                    group = self._groups.get(key)
                if group is None:
                    self._groups[key] = Group(1, now_ns, now_ns, trace_id, now_ns)
                    return first
            group.count += 1
            group.last_ns = now_ns
            if trace_id and (not group.trace_id or now_ns - group.sampled_ns >= SAMPLE_KEPT_NS):
                group.trace_id, group.sampled_ns = trace_id, now_ns
            return first

    def snapshot(self) -> list[tuple[GroupKey, Group]]:
        """A copy of every group, for the instruments' callbacks and for tests."""
        with self._lock:
            return [(key, Group(g.count, g.first_ns, g.last_ns, g.trace_id, g.sampled_ns))
                    for key, g in self._groups.items()]


_groups = Groups()


def groups() -> Groups:
    """The process's groups."""
    return _groups
