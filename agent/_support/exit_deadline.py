"""One exit budget for a whole run: a pre-fork server's processes share one deadline, not one each.

Why: SIGTERM to ``gunicorn -w 2`` (or ``uvicorn --workers 2``) with a collector that accepts connections
and never answers made each worker spend the agent's exit budget, then the master spend its own after them:
2.2-3.0 s against 0.2-0.3 s. Every process of one ``obs run`` shares ``OBS_RUN_ID``; the first to reach its
exit writes a deadline (``time.monotonic()``, one clock for the whole machine) to a small file named after the
run; the others find it and stop by then. A master that exits after its workers spent the budget is left
:data:`FLOOR_S`, enough for its last export when the collector answers, little when it does not. A deadline
more than one budget old belongs to an earlier exit (a worker recycled by ``--max-requests``, a short child
process): it is replaced. Without a run id, or when the file cannot be written, each process keeps its own
budget. Standard library only, and not ``tempfile`` (obs.agent._support.scratch).
"""

from __future__ import annotations

import contextlib
import os
import time

from obs.agent._support.scratch import user_folder

__all__ = ["FLOOR_S", "exit_budget"]

FLOOR_S = 0.05
"""What a process gets when the run's deadline has just passed: a collector that answers needs a few ms."""
_MAX_AGE_S = 86_400.0


def _path(run_id: str) -> str:
    return user_folder("exit", f"{run_id}.deadline")


def _read(path: str) -> float | None:
    try:
        with open(path, encoding="ascii") as file:
            return float(file.read().strip())
    except (OSError, ValueError):
        return None


def _write(path: str, deadline: float) -> bool:
    folder = os.path.dirname(path)
    temporary = f"{path}.{os.getpid()}"
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, repr(deadline).encode("ascii"))
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    _sweep(folder)
    return True


def _sweep(folder: str) -> None:
    """Deadlines of old runs go after a day."""
    cutoff = time.time() - _MAX_AGE_S
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


def exit_budget(budget_s: float, run_id: str | None) -> float:
    """The seconds this process may spend on its exit: ``budget_s`` for the first process of the run to
    exit (which sets the run's deadline), what is left of that deadline for the others."""
    if not run_id:
        return budget_s
    now = time.monotonic()
    path = _path(run_id)
    deadline = _read(path)
    if deadline is not None and now - deadline < budget_s:
        return min(budget_s, max(deadline - now, FLOOR_S))
    _write(path, now + budget_s)
    return budget_s
