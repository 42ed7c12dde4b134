"""Fork hooks bound to an object's methods, without keeping the object alive.

``os.register_at_fork`` cannot unregister, so a hook that held its object strongly would keep every
exporter, queue and reader ever made alive for the life of the process.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

__all__ = ["at_fork_weakly"]


def _caller(reference: weakref.ref[object], method: str) -> Callable[[], None]:
    def hook() -> None:
        owner = reference()
        if owner is not None:
            getattr(owner, method)()

    return hook


def at_fork_weakly(
    owner: object,
    *,
    before: str | None = None,
    after_in_parent: str | None = None,
    after_in_child: str | None = None,
) -> None:
    """Call ``owner``'s named methods around every ``fork()`` for as long as ``owner`` lives."""
    if not hasattr(os, "register_at_fork"):
        return
    reference = weakref.ref(owner)
    hooks = {
        "before": before,
        "after_in_parent": after_in_parent,
        "after_in_child": after_in_child,
    }
    os.register_at_fork(**{when: _caller(reference, name) for when, name in hooks.items() if name})
