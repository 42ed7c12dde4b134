"""Starting the agent's own threads, which the interpreter may refuse once it is exiting.

Why: Python 3.12 refuses to start a thread once the interpreter is shutting down, atexit handlers included
(``RuntimeError: can't create new thread at interpreter shutdown``; 3.11 and 3.13 allow it, and
``sys.is_finalizing()`` is still false then). The agent starts its threads when first needed (the span
queue's at the first span, the metrics reader's when the metrics SDK is built, the deadline timer at exit),
so a short process may first need one at its exit. Every such start goes through :func:`start`; a caller
told no does the work on its own thread, within the time it was given.
"""

from __future__ import annotations

import threading

__all__ = ["start"]


def start(thread: threading.Thread) -> bool:
    """Start ``thread``; False when the interpreter refuses new threads (it is exiting)."""
    try:
        thread.start()
    except RuntimeError:
        if thread.ident is not None:  # "threads can only be started once": a bug, not the exit
            raise
        return False
    return True
