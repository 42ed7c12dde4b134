"""The agent's own voice: one line on stderr per kind of event, said once per process, never raised.

The agent runs inside someone else's app, so its problems must neither crash nor flood it. Each message has a
key; a key speaks once. Internal errors name what failed and carry the exception's one-line summary; set
``OBS_DEBUG=1`` to see the traceback too. Standard library only: this module is used before the SDK loads.
"""

from __future__ import annotations

import os
import sys
import threading

from obs.agent._support.fork import VOICE, at_fork

__all__ = ["error_once", "reset_after_fork", "say", "say_once"]

_said: set[str] = set()
_lock = threading.Lock()


def say(message: str) -> None:
    """Print ``obs: <message>`` on stderr. A closed or broken stderr is ignored."""
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(f"obs: {message}\n")
            stream.flush()
    except Exception:  # the agent's output must never become the app's problem
        return


def say_once(key: str, message: str) -> bool:
    """Say ``message`` unless ``key`` was said before in this process; True when it was printed now."""
    with _lock:
        if key in _said:
            return False
        _said.add(key)
    say(message)
    return True


def error_once(what: str, error: BaseException | None = None) -> None:
    """Report an internal failure once per ``what``: ``obs: <what> failed (<Type: message>); ...``."""
    detail = f" ({type(error).__name__}: {_clean(str(error))})" if error is not None else ""
    said = say_once(f"error:{what}", f"{what} failed{detail}; the app goes on without it")
    if said and error is not None and os.environ.get("OBS_DEBUG"):
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


def _clean(text: str) -> str:
    """An error's text as obs prints it: no credential, no flood (the scrubber loads only now)."""
    from obs.agent._support.scrub import scrub_text, shorten

    return shorten(scrub_text(text))


def reset_after_fork() -> None:
    """A forked child keeps what its parent said, but needs a lock nobody holds."""
    global _lock
    _lock = threading.Lock()


at_fork(VOICE, after_in_child=reset_after_fork)
