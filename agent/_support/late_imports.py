"""Imports made late, on the agent's export threads, that a ``fork()`` cannot catch half-done.

Python locks each module while it is imported; a thread that is importing when another thread forks leaves
that lock held for ever in the child, and the child's first import of the module hangs (seen with gunicorn
``--preload``: the master's metrics thread importing the HTTP client just as a worker was forked). Late
imports go through :func:`load`, which holds a lock that ``fork()`` takes first: the fork waits for the
import to finish (a few milliseconds), and the child starts with no import half-done.
"""

from __future__ import annotations

import sys
import threading

from obs.agent._compat import initializing
from obs.agent._support.fork import IMPORTS, at_fork

TYPE_CHECKING = False  # loaded at every start: no typing, contextlib or importlib until they are needed
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import ModuleType

__all__ = ["late_imports", "load"]

_FORK_WAIT_S = 2.0
"""How long a fork waits for a late import; past it the fork goes ahead rather than hang the app."""

_guard = threading.RLock()
_held_for_fork = False


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


def _before_fork() -> None:
    global _held_for_fork
    _held_for_fork = _guard.acquire(timeout=_FORK_WAIT_S)


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _guard.release()


def _after_fork_in_child() -> None:
    global _guard, _held_for_fork
    _guard = threading.RLock()
    _held_for_fork = False


at_fork(IMPORTS, before=_before_fork, after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child)
