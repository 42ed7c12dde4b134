"""Messages for the whole run: said by the first process of an ``obs run``, not by each of its workers.

Every process of one run (gunicorn's master and its workers, uvicorn's spawned workers) shares ``OBS_RUN_ID``;
the first process to create the marker file of a message prints it. Without markers (no run id, a read-only
temp folder) each process says it once. Imports beyond ``os`` wait until a message is due (this module is
loaded on every start), through :mod:`obs.agent._support.late_imports` as they may happen on export threads.
"""

from __future__ import annotations

import os
import threading

from obs.agent._support.fork import VOICE, at_fork
from obs.agent._support.late_imports import load
from obs.agent._support.report import say_once
from obs.agent._support.scratch import user_folder
from obs.agent.bootstrap import RUN_ID_VARIABLE

__all__ = ["RUN_ID_VARIABLE", "announce", "ensure_run_id", "reset_after_fork"]

_MARKER_MAX_AGE_S = 86_400.0

_announced: set[str] = set()
_lock = threading.Lock()


def ensure_run_id() -> str:
    """The id shared by this process and the children it starts (set here when ``obs run`` did not)."""
    run_id = os.environ.get(RUN_ID_VARIABLE, "").strip()
    if not run_id:
        run_id = os.urandom(16).hex()
        os.environ[RUN_ID_VARIABLE] = run_id
    return run_id


def _marker_dir() -> str:
    return user_folder("said")


def _first_in_run(key: str) -> bool:
    """True for the first process of this run to ask about ``key`` (True as well when markers fail)."""
    hashlib = load("hashlib")
    run_id = os.environ.get(RUN_ID_VARIABLE, "").strip()
    if not run_id:
        return True
    folder = _marker_dir()
    digest = hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor = os.open(os.path.join(folder, f"{run_id}-{digest}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                             0o600)
    except FileExistsError:
        return False
    except OSError:
        return True
    os.close(descriptor)
    _sweep(folder)
    return True


def _sweep(folder: str) -> None:
    """Markers of old runs go after a day."""
    contextlib, time = load("contextlib"), load("time")
    cutoff = time.time() - _MARKER_MAX_AGE_S
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


def announce(key: str, message: str) -> None:
    """Say ``message`` on stderr once per run (and at most once per process, whatever the markers do)."""
    with _lock:
        if key in _announced:
            return
        _announced.add(key)
        first = _first_in_run(key)
    if first:
        say_once(f"announce:{key}", message)


def reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


at_fork(VOICE, after_in_child=reset_after_fork)
