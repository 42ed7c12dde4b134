"""Errors grouped in the agent: a count per kind of failure, from what the agent already sees.

A *group* is an exception type, the app's own function where it was raised (the innermost frame in the
project's code, not in a library: :mod:`obs.agent._errors.frames`), and the operation it happened in (the
request's ``METHOD route``, the task's name, or nothing for an exception logged outside both). Failures reach
it from:

- obs's own server middlewares: an exception a request ends with (:mod:`obs.agent._server.request`);
- the log bridges: a record at ERROR or above with an exception (``logger.exception``, ``log.exception``,
  loguru's ``logger.exception``), handled or not, exported or not (with logs not exported, not captured or
  below the export level, a hook that only groups: :mod:`obs.agent._logs`);
- the spans of the contrib instrumentations (Django, Celery...): a server or consumer span that ended in
  error with an ``exception`` event, sampled or not (:mod:`obs.agent._traces.failures` has such spans
  recorded in a dropped trace, and hands every one that failed to :func:`record.span_ended_in_error`).

The same exception object is counted once, whichever of these sees it first (a framework that logs the
exception it turns into a 500 is seen by the log bridge, then by the middleware; uvicorn logs the exception
that ended the ASGI instrumentation's span after the span). Nothing here runs on a
request that does not fail.

The counts leave the process as three observable instruments of the catalog (``obs.errors``,
``obs.errors.first_seen``, ``obs.errors.last_seen``: :mod:`obs.agent._errors.instruments`), registered at
the first failure, so that a process that never fails builds nothing for them.

Modules: :mod:`~obs.agent._errors.operation` (the request in progress: the only one loaded on the request
path), :mod:`~obs.agent._errors.record` (the ways in), :mod:`~obs.agent._errors.frames` (the app's
function), :mod:`~obs.agent._errors.groups` (the bounded store), :mod:`~obs.agent._errors.instruments`.

Off with the ``error_groups`` setting (``OBS_ERROR_GROUPS=false``): :func:`configure` at boot; every way in
then returns at once, and the log hooks that exist only for grouping are not installed.
"""

from __future__ import annotations

__all__ = ["configure", "enabled"]

_enabled = [True]


def configure(enabled: bool) -> None:
    """Group failures or not (the ``error_groups`` setting), for this process and the ones it forks."""
    _enabled[0] = enabled


def enabled() -> bool:
    return _enabled[0]
