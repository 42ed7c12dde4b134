"""After ``fork()``: the child is a new process and must say so.

What the SDK already does in a forked child: its span and metric threads restart, and each provider merges a
fresh ``service.instance.id`` into its resource. What this module adds: the pid attributes of the resource,
new locks for the agent's own state (a lock held by another thread at fork time would never be released in the
child), and connections that the child must not share with its parent. The span queue, the logs queue and the
process metrics handle their own fork (each resets itself, or checks the pid).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from obs.agent._support import report as _report

__all__ = ["on_fork_in_child"]

_callbacks: list[Callable[[], None]] = []
_registered = False


_RESETS = ("obs.agent._support.report", "obs.agent._support.announce", "obs.agent._export.fallback")
"""Modules with a lock of their own to renew (only those already imported: this module loads at start)."""


def _run_callbacks() -> None:
    for name in _RESETS:
        reset = getattr(sys.modules.get(name), "reset_after_fork", None)
        if callable(reset):
            reset()
    for callback in list(_callbacks):
        try:
            callback()
        except Exception as error:
            _report.error_once("resetting the agent after fork", error)


def on_fork_in_child(callback: Callable[[], None]) -> None:
    """Run ``callback`` in every forked child (the SDK's handlers touch other resource keys: any order)."""
    global _registered
    _callbacks.append(callback)
    if not _registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_run_callbacks)
        _registered = True
