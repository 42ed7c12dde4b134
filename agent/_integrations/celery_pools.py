"""Patch for gevent/eventlet before the agent makes anything, when the process is a Celery worker that will.

Why: ``celery worker -P gevent`` monkey-patches in ``celery.__main__``, after ``sitecustomize`` armed the
agent and after the ``celery`` import booted it. Threads, locks and queues the agent made before the patch
then mix with gevent's after it: measured, a worker under ``obs run`` took its first task 17 s late and never
exited. Celery would patch a few milliseconds later anyway; doing it first, the same way
(``monkey.patch_all()``), changes nothing for the app and keeps every primitive of the agent green. Any other
process pays a look at its command line.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

__all__ = ["green_pool", "patch_like_celery"]


def _is_celery(argv: Sequence[str]) -> bool:
    head = [part.replace("\\", "/") for part in argv[:4]]
    if any(part.endswith(("/celery", "/celery/__main__.py")) or part == "celery" for part in head):
        return True
    return any(pair == ("-m", "celery") for pair in itertools.pairwise(head))


def green_pool(argv: Sequence[str]) -> str | None:
    """``gevent`` or ``eventlet`` when ``argv`` starts a Celery worker with that pool, else None."""
    if "worker" not in argv or not _is_celery(argv):
        return None
    pool = None
    for index, part in enumerate(argv):
        if part in ("-P", "--pool") and index + 1 < len(argv):
            pool = argv[index + 1]
        elif part.startswith("--pool="):
            pool = part.partition("=")[2]
        elif part.startswith("-P") and len(part) > 2:
            pool = part[2:]
    return pool if pool in ("gevent", "eventlet") else None


def patch_like_celery(argv: Sequence[str] | None = None) -> None:
    """Monkey-patch now if this process is a green Celery worker (see the module docstring). Never raises."""
    try:
        pool = green_pool(list(argv if argv is not None else getattr(sys, "orig_argv", sys.argv)))
        if pool == "gevent":
            from gevent import monkey

            monkey.patch_all()
        elif pool == "eventlet":
            import eventlet

            eventlet.monkey_patch()
    except Exception as error:
        from obs.agent._support.report import error_once

        error_once("patching for the Celery worker's pool", error)
