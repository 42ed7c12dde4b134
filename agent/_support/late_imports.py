"""Imports made late, on the agent's export threads, that a ``fork()`` cannot catch half-done.

Python locks each module while it is imported; a thread that is importing when another thread forks leaves
that lock held for ever in the child, and the child's first import of the module hangs (seen with gunicorn
``--preload``: the master's metrics thread importing the HTTP client just as a worker was forked). Late
imports go through :func:`load`, which holds a lock that ``fork()`` takes first: the fork waits for the
import to finish, and the child starts with no import half-done.

The fork waits as long as the import makes progress (modules keep loading: importing the metrics SDK took
3 s on two busy cores, and a fixed 2 s bound left the child a module half-imported, its first metric hung
for ever); once nothing has loaded for a while the import is stuck (on a lock the forking thread holds),
and the fork goes ahead rather than hang the app. Such a child is told (:func:`interrupted`): the
metrics SDK's build there could wait for ever on a module left half-done, so it makes none.
"""

from __future__ import annotations

import sys
import threading
import time

from obs.agent._compat import initializing
from obs.agent._support.fork import IMPORTS, at_fork

TYPE_CHECKING = False  # loaded at every start: no typing, contextlib or importlib until they are needed
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import ModuleType

__all__ = ["held_for_fork", "interrupted", "late_imports", "load"]

_FORK_STUCK_S = 2.0
"""A late import that loaded no module for this long is stuck: the fork waits no longer."""
_FORK_WAIT_MAX_S = 15.0
"""The most a fork waits for a late import that keeps loading modules."""
_FORK_POLL_S = 0.05

_guard = threading.RLock()
_held_for_fork = False
_interrupted = False


def load(name: str) -> ModuleType:
    """``importlib.import_module(name)``, never at the same time as a fork."""
    module = sys.modules.get(name)
    if module is not None and not initializing(module):
        return module
    import importlib

    with _guard:
        return importlib.import_module(name)


def late_imports() -> AbstractContextManager[bool]:
    """The guard a fork waits for, to hold while a block imports (and builds) late, ``with
    late_imports():`` (the metrics SDK's build). Re-entrant: such a block may call :func:`load`."""
    return _guard


def interrupted() -> bool:
    """In a forked child: the fork went ahead while a late import was under way (stuck), which may have
    left a module half-imported for good."""
    return _interrupted


def held_for_fork() -> bool:
    """Before a fork, in the hooks after this module's: no late import is under way (the forking thread
    holds the guard), so a hook may build or import now; False when the fork went ahead of a stuck one."""
    return _held_for_fork


def _before_fork() -> None:
    global _held_for_fork
    started = last_progress = time.monotonic()
    loaded = len(sys.modules)
    while not _guard.acquire(timeout=_FORK_POLL_S):
        now = time.monotonic()
        if len(sys.modules) != loaded:
            loaded, last_progress = len(sys.modules), now
        if now - last_progress >= _FORK_STUCK_S or now - started >= _FORK_WAIT_MAX_S:
            _held_for_fork = False
            return
    _held_for_fork = True


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _guard.release()


def _after_fork_in_child() -> None:
    global _guard, _held_for_fork, _interrupted
    _guard = threading.RLock()
    _interrupted = _interrupted or not _held_for_fork
    _held_for_fork = False


at_fork(IMPORTS, before=_before_fork, after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child)
