"""Celery task metrics per task name, in each worker process: runs by outcome, run time, and queue wait.

Why obs's own: contrib 0.66's Celery instrumentation gives spans (kept: the task joins the producer's trace)
and one runtime histogram without the outcome or the wait. The wait needs the moment of publication, which a
broker does not keep: the producer puts it in the message headers (``before_task_publish``), the worker reads
it when the task starts (``task_prerun``). Clocks of different hosts may disagree: a negative wait is
dropped rather than recorded. Only Celery's public signals are used; every handler swallows its own errors.
"""

from __future__ import annotations

import time
from typing import Any

from obs.agent import catalog
from obs.agent._support.report import error_once

__all__ = ["ENQUEUED_HEADER", "instrument_celery"]

ENQUEUED_HEADER = "obs_enqueued_at"
"""Message header with the publication time (seconds since the epoch, float)."""

NAME, OUTCOME = "celery.task.name", "celery.task.outcome"

_started: dict[tuple[str, int], float] = {}
_outcome: dict[tuple[str, int], str] = {}
"""By run: (task id, retries so far). A retry keeps its task's id, and with threads or gevent its run may
start on another thread before the run that asked for it has ended."""
_instruments: list[Any] = []
_connected = [False]


def _meters() -> tuple[Any, Any, Any]:
    if not _instruments:
        from opentelemetry import metrics

        meter = metrics.get_meter("obs.tasks")
        _instruments.extend([
            meter.create_counter(catalog.TASK_RUNS.name, catalog.TASK_RUNS.unit,
                                 catalog.TASK_RUNS.description),
            meter.create_histogram(catalog.TASK_DURATION.name, catalog.TASK_DURATION.unit,
                                   catalog.TASK_DURATION.description),
            meter.create_histogram(catalog.TASK_QUEUE_WAIT.name, catalog.TASK_QUEUE_WAIT.unit,
                                   catalog.TASK_QUEUE_WAIT.description),
        ])
    runs, duration, wait = _instruments
    return runs, duration, wait


def _before_publish(sender: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    try:
        if headers is not None:  # set on every publish: a retry's message carries its first one's headers
            headers[ENQUEUED_HEADER] = time.time()
    except Exception as error:
        error_once("the Celery publish hook", error)


def _run(task_id: str, request: Any) -> tuple[str, int]:
    """One run of a task: its id and the retries before it (``request``: the run's Celery request)."""
    retries = getattr(request, "retries", 0)
    return task_id, retries if isinstance(retries, int) else 0


def _prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    try:
        now = time.time()
        if task_id is not None:
            _started[_run(task_id, getattr(task, "request", None))] = time.perf_counter()
        enqueued = getattr(getattr(task, "request", None), ENQUEUED_HEADER, None)
        if isinstance(enqueued, int | float) and now >= enqueued:
            _meters()[2].record(now - enqueued, {NAME: str(getattr(task, "name", "unknown"))})
    except Exception as error:
        error_once("the Celery prerun hook", error)


def _failure(task_id: str | None = None, exception: BaseException | None = None, sender: Any = None,
             **_: Any) -> None:
    if task_id is not None:
        _outcome[_run(task_id, getattr(sender, "request", None))] = "failure"
    if exception is not None:  # the error groups (obs.agent._errors), under the task's name
        try:
            from obs.agent._errors.record import task_failed
            from opentelemetry.trace import get_current_span

            trace_id = get_current_span().get_span_context().trace_id
            task_failed(exception, str(getattr(sender, "name", "") or ""), trace_id)
        except Exception as error:
            error_once("the Celery failure hook", error)


def _retry(request: Any = None, **_: Any) -> None:
    task_id = getattr(request, "id", None)
    if task_id is not None:
        _outcome[_run(task_id, request)] = "retry"


def _postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    try:
        if task_id is None:
            return
        run = _run(task_id, getattr(task, "request", None))
        started = _started.pop(run, None)
        outcome = _outcome.pop(run, None) or _state_outcome(state)
        attributes = {NAME: str(getattr(task, "name", "unknown")), OUTCOME: outcome}
        runs, duration, _wait = _meters()
        runs.add(1, attributes)
        if started is not None:
            duration.record(time.perf_counter() - started, attributes)
    except Exception as error:
        error_once("the Celery postrun hook", error)


def _state_outcome(state: str | None) -> str:
    if state == "RETRY":
        return "retry"
    if state in ("FAILURE", "REJECTED", "REVOKED"):
        return "failure"
    return "success"


def instrument_celery() -> None:
    """Connect the handlers to Celery's signals, once per process (they are inherited across fork)."""
    if _connected[0]:
        return
    _connected[0] = True
    from celery import signals

    signals.before_task_publish.connect(_before_publish, weak=False)
    signals.task_prerun.connect(_prerun, weak=False)
    signals.task_failure.connect(_failure, weak=False)
    signals.task_retry.connect(_retry, weak=False)
    signals.task_postrun.connect(_postrun, weak=False)
