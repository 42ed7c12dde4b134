"""gevent: the agent's threads and locks are the kind gevent makes, never the kind it replaces.

gevent's ``monkey.patch_all()`` turns threads into greenlets and locks into cooperative ones. What the agent
made before that goes wrong after it:

- a thread still running when gevent patches makes gevent leave ``threading``'s own locks and the import
  locks unpatched (it fixes them only in a process with one thread): the app's own import can then fail
  (``RuntimeError: cannot release un-acquired lock``); such a thread fails with ``KeyError`` when it ends,
  and a thread it starts is a greenlet of a hub that nobody runs (metrics never exported);
- a lock made before is a real lock: a greenlet waiting for it blocks the whole process while the greenlet
  holding it waits for the network (a gunicorn ``-k gevent`` worker hung until gunicorn killed it).

Two moments: a gunicorn ``-k gevent`` worker forks, then patches; an app may patch itself at the top of its
module, after the agent started. So every object of the agent that owns a thread or a lock registers here
(:func:`register`): gevent's own notices (``gevent.events``, public since gevent 1.3) stop those threads
just before it patches (:meth:`Cooperative.pause_for_patching`) and make the locks and threads again right
after (:meth:`Cooperative.resume_after_patching`). In a forked child of a process that imported gevent,
the objects' own fork hooks may start no thread (:func:`threads_wait_after_fork`): gevent's fork hook, which
runs after theirs, insists on a child with one thread; they start right after gevent's hook, or once a
gunicorn gevent worker has patched.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref

from obs.agent._support.report import error_once

TYPE_CHECKING = False  # armed in every process of `obs run`: typing (and the re it loads) waits for a boot
if TYPE_CHECKING:
    from typing import Any, Protocol

__all__ = [
    "PAUSE_WAIT_S", "Cooperative", "join_quietly", "register", "threads_wait_after_fork", "watch_gevent",
]

GUNICORN_GEVENT_WORKER = "gunicorn.workers.ggevent"
"""Imported by gunicorn's arbiter for ``-k gevent``: its workers patch as they start."""
PAUSE_WAIT_S = 1.0
"""How long each thread is given to end before gevent patches (it only has to wake up and return)."""

_owners: weakref.WeakSet[Cooperative] = weakref.WeakSet()
_subscribed = False
_child_hook = False
_paused_for_fork = False
_resume_due = False
"""gevent said it will patch threading: resume when it says it did (not after a later, no-op patch_all)."""


if TYPE_CHECKING:

    class Cooperative(Protocol):
        """An object of the agent that owns a thread or a lock."""

        def pause_for_patching(self) -> None:
            """End its thread now (gevent is about to patch); no-op when it has none running."""

        def resume_after_patching(self) -> None:
            """Make its locks again, and start its thread again if it had one or needs one."""


def register(owner: Cooperative) -> None:
    """Pause and resume ``owner`` around gevent's patching, for as long as it lives."""
    _owners.add(owner)


def threads_wait_after_fork() -> bool:
    """In a forked child, threads wait for this module to start them: gevent has patched already (its own
    fork hook must run first), or this is a gunicorn gevent worker, which patches right after the fork (no
    thread of ours then exists when it does). Any other child starts them at once: should it patch later
    after all, they are paused and resumed around it."""
    if not _subscribed or "gevent" not in sys.modules:
        return False
    return _threading_patched_safely() or GUNICORN_GEVENT_WORKER in sys.modules


def watch_gevent() -> None:
    """Listen to gevent's patching notices, if gevent is imported (called at start and when it is)."""
    global _subscribed
    if _subscribed or "gevent" not in sys.modules:
        return
    try:
        _gevent("events").subscribers.append(_on_gevent_event)
    except Exception as error:
        error_once("listening to gevent's patching", error)
        return
    _subscribed = True
    from obs.agent._support.fork import GREENLETS, at_fork

    at_fork(GREENLETS, before=_before_fork, after_in_parent=_after_fork_in_parent)
    if _threading_patched_safely():
        _hook_child_after_gevent()


def _hook_child_after_gevent() -> None:
    """Registered once gevent has patched, so after gevent's own fork hooks (``os.register_at_fork`` runs
    child hooks in the order they were registered): the one hook of the agent not in obs.agent._support.fork,
    whose single registration comes before gevent's."""
    global _child_hook
    if not _child_hook and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _child_hook = True


def _after_fork_in_child() -> None:
    if _threading_patched_safely():
        _each("resume_after_patching")


def join_quietly(thread: threading.Thread | None) -> None:
    """Wait (a bounded time) for ``thread`` to end; not for one never started or the calling one."""
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(PAUSE_WAIT_S)


def _on_gevent_event(event: object) -> None:
    """gevent's subscriber. Never raises: gevent would stop patching (and the app with it)."""
    global _resume_due
    try:
        events = _gevent("events")
        if isinstance(event, events.GeventWillPatchAllEvent) and not _threading_patched():
            _resume_due = True
            _each("pause_for_patching")
        elif isinstance(event, events.GeventDidPatchAllEvent):
            _hook_child_after_gevent()
            if _resume_due:
                _resume_due = False
                _each("resume_after_patching")
    except Exception as error:
        error_once("following gevent's patching", error)


def _before_fork() -> None:
    """Greenlets live on in a forked child, where their thread is no longer known (``KeyError`` when it
    ends) and a second one does the same work: the agent's end before a patched process forks (after
    exporting what they hold), start again in the parent, and afresh in the child (its own fork hooks)."""
    global _paused_for_fork
    _paused_for_fork = _threading_patched_safely()
    if _paused_for_fork:
        _each("pause_for_patching")


def _after_fork_in_parent() -> None:
    global _paused_for_fork
    if _paused_for_fork:
        _paused_for_fork = False
        _each("resume_after_patching")


def _threading_patched_safely() -> bool:
    try:
        return _threading_patched()
    except Exception:
        return False


def _threading_patched() -> bool:
    """Asked in fork hooks too: gevent.monkey is never imported there (no patch without it anyway)."""
    if "gevent.monkey" not in sys.modules:
        return False
    return bool(_gevent("monkey").is_module_patched("threading"))


def _gevent(name: str) -> Any:
    """A module of gevent's (untyped: gevent ships no type information)."""
    import importlib

    return importlib.import_module(f"gevent.{name}")


def _each(method: str) -> None:
    for owner in list(_owners):
        try:
            getattr(owner, method)()
        except Exception as error:
            error_once(f"{method.replace('_', ' ')} (gevent)", error)
