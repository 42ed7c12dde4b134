"""Around ``fork()``: every hook of the agent, registered here, run in one stated order.

What the SDK already does in a forked child: its span and metric threads restart, and each provider merges a
fresh ``service.instance.id`` into its resource. What the agent adds: the pid attributes of the resource, new
locks for its own state (a lock held by another thread at fork time would never be released in the child),
fresh queues and stores, and connections that the child must not share with its parent; before the fork, it
waits for work a child must not inherit half-done.

Every hook goes through :func:`at_fork` (a function) or :func:`at_fork_weakly` (methods of an object, for as
long as it lives: ``os.register_at_fork`` cannot unregister, and a hook holding its object would keep every
queue and reader ever made alive). ``os.register_at_fork`` is called here only. Before the fork, and after
it in the parent and in the child, hooks run by stage, first to last, and within a stage in the order they
were registered. A hook that raises is reported once and the others still run.

The hooks before the fork run ahead of ``logging``'s own, which takes logging's module lock until the fork
is done (CPython runs ``before`` hooks last registered first). Ours wait for the agent's threads to finish
an import or a build (a boot, the metrics SDK's): those take logging's lock too (``getLogger`` at a
module's top), so waiting behind it, the fork waited out its bound and then went ahead with the import
half-done, and the child hung for ever on that module's import lock (a gunicorn ``--preload`` worker's
first metric, while the master's first-export thread was building the SDK as it forked).
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False  # loaded when the agent is armed, at every start: no typing until it is needed
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BOOT", "GREENLETS", "IMPORTS", "METRICS", "STATE", "VOICE", "at_fork", "at_fork_weakly"]

VOICE = 0
"""The agent's voice and memos (what was said, which collector answers): renewed first in the child, so that
any later hook can report a failure."""
BOOT = 1
"""A boot running on its own thread finishes before the fork: a child must not inherit half of it."""
IMPORTS = 2
"""Then no late import may be half-done (a module lock held for ever in the child); the boot above may need
that guard, so it comes after."""
METRICS = 3
"""Then the metrics SDK is built if metrics are expected (the children share it), and each reader waits for
a collection in progress; in the child, their threads start again."""
STATE = 4
"""In the child: the span and log queues, the RED store, the process metrics' handle start afresh; the
pipeline's resource gets the child's pid and its destinations forget the parent's connections."""
GREENLETS = 5
"""Last, in a process gevent has patched: the agent's threads (greenlets, which would live on in the child)
end before the fork and start again in the parent (obs.agent._support.greenlets)."""

_PHASES = ("preparing the agent for a fork", "resuming the agent after a fork",
           "resetting the agent after fork")

_hooks: list[tuple[int, int, Callable[[], object] | None, tuple[object | None, ...]]] = []
"""``(stage, sequence, owner reference or None, (before, after_in_parent, after_in_child))``: a function, or
for a weakly bound owner the name of its method."""
_registered = False
_ahead_of_logging = False
"""Our ``before`` is registered after logging's (so runs ahead of it): see the module's doc."""
_preparing: int | None = None
"""The thread whose fork our ``before`` hooks ran for (registered twice, they run once per fork)."""
_sequence = 0


def at_fork(
    stage: int,
    *,
    before: Callable[[], object] | None = None,
    after_in_parent: Callable[[], object] | None = None,
    after_in_child: Callable[[], object] | None = None,
) -> None:
    """Run these functions around every ``fork()`` of this process, at ``stage``."""
    _add(stage, None, (before, after_in_parent, after_in_child))


def at_fork_weakly(
    stage: int,
    owner: object,
    *,
    before: str | None = None,
    after_in_parent: str | None = None,
    after_in_child: str | None = None,
) -> None:
    """Call ``owner``'s named methods around every ``fork()``, at ``stage``, while ``owner`` lives."""
    import weakref

    _add(stage, weakref.ref(owner), (before, after_in_parent, after_in_child))


def _add(stage: int, owner: Callable[[], object] | None, hooks: tuple[object | None, ...]) -> None:
    global _ahead_of_logging, _registered, _sequence
    if not hasattr(os, "register_at_fork"):
        return
    _hooks[:] = [entry for entry in _hooks if entry[2] is None or entry[2]() is not None]
    _sequence += 1
    _hooks.append((stage, _sequence, owner, hooks))
    _hooks.sort(key=lambda entry: entry[:2])
    if not _registered:
        os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
        _registered = True
        _ahead_of_logging = _logging_imported()
    if not _ahead_of_logging and _logging_imported():
        os.register_at_fork(before=_before)  # the boot registers hooks, and logging is imported by then
        _ahead_of_logging = True


def _logging_imported() -> bool:
    """``logging`` has run its module code, which registers its fork hooks."""
    from obs.agent._compat import initializing

    module = sys.modules.get("logging")
    return module is not None and not initializing(module)


def _run(phase: int) -> None:
    """Each hook once, by stage; the list is read again after each one, as a hook may wait for another
    thread that registers hooks meanwhile (a metrics build makes its reader, whose hooks must run too)."""
    done: set[int] = set()
    while True:
        entry = next((entry for entry in list(_hooks) if entry[1] not in done), None)
        if entry is None:
            return
        _stage, sequence, reference, hooks = entry
        done.add(sequence)
        hook = hooks[phase]
        if hook is None:
            continue
        try:
            if reference is None:
                hook()  # type: ignore[operator]
            else:
                owner = reference()
                if owner is not None:
                    getattr(owner, hook)()  # type: ignore[call-overload]
        except Exception as error:
            from obs.agent._support.report import error_once

            error_once(_PHASES[phase], error)


def _before() -> None:
    global _preparing
    thread = threading.get_ident()
    if _preparing == thread:
        return  # the second registration's call, for the same fork
    _preparing = thread
    _run(0)


def _after_in_parent() -> None:
    global _preparing
    _preparing = None
    _run(1)


def _after_in_child() -> None:
    global _preparing
    _preparing = None
    _run(2)
