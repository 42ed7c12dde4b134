"""The ways a failure reaches the groups, each called only when something failed.

The operation a failure belongs to is the request in progress in this context (obs's middlewares set it in
:data:`obs.agent._errors.operation.CURRENT`; the route is read when the failure happens, routing being done
by then), or the name of the span that ended in error.

An exception object counted is marked with an attribute (``__obs_error_counted__``), so that the log record
a framework writes about it and the request that ends with it count once.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, Final

from obs.agent._errors import enabled
from obs.agent._errors.frames import where_from_text, where_from_traceback
from obs.agent._errors.groups import GroupKey, groups
from obs.agent._errors.operation import current_operation
from obs.agent._support.report import error_once

__all__ = [
    "logged",
    "request_failed",
    "span_ended_in_error",
    "task_failed",
    "type_name",
]

_COUNTED: Final = "__obs_error_counted__"
_RECENT_KEPT: Final = 512


_recent_lock = threading.Lock()
_recent: OrderedDict[tuple[int, str], None] = OrderedDict()
"""(trace id, exception type) of the failures counted from objects: a span of the same trace and type that
ends in error later is the same failure, not another one."""


def type_name(kind: type[BaseException]) -> str:
    """``module.QualName`` (builtins bare), as ``exception.type`` and ``error.type`` name it."""
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def _count(key: GroupKey, trace_id: int) -> None:
    if groups().add(key, trace_id, time.time_ns()):
        from obs.agent._errors.instruments import register

        register()


def _from_object(error: BaseException, operation: str, trace_id: int) -> None:
    try:
        if not enabled() or getattr(error, _COUNTED, False):
            return
        with contextlib.suppress(Exception):  # one that refuses attributes may be counted twice, no worse
            setattr(error, _COUNTED, True)
        where = where_from_traceback(error.__traceback__)
        kind = type_name(type(error))
        if trace_id:
            _remember(trace_id, kind)
        _count((kind, where[0] if where else "", operation), trace_id)
    except Exception as problem:
        error_once("grouping an error", problem)


def _remember(trace_id: int, kind: str) -> None:
    with _recent_lock:
        _recent[(trace_id, kind)] = None
        while len(_recent) > _RECENT_KEPT:
            _recent.popitem(last=False)


def request_failed(error: BaseException, operation: str, trace_id: int) -> None:
    """A request of obs's middlewares ended with ``error``."""
    _from_object(error, operation, trace_id)


def task_failed(error: BaseException, task: str, trace_id: int) -> None:
    """A task ended with ``error`` (Celery's ``task_failure``): its operation is the task's name."""
    _from_object(error, task, trace_id)


def logged(error: BaseException | None, trace_id: int) -> None:
    """A record at ERROR or above carried ``error`` (handled or not). Its operation is obs's request in
    progress, else the current span's name when that span is another instrumentation's request or task
    (Django logs the exception it turns into a 500 inside the contrib's server span)."""
    if error is not None:
        _from_object(error, current_operation() or _span_operation(), trace_id)


def _span_operation() -> str:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    span = trace.get_current_span()
    if getattr(span, "kind", None) in (SpanKind.SERVER, SpanKind.CONSUMER):
        return str(getattr(span, "name", ""))
    return ""


def span_ended_in_error(span: Any) -> None:
    """Another instrumentation's server or consumer span ended in error, sampled or not: its ``exception``
    events. Called within the span's ``end``: an exception still propagating then, of an event's type and
    message, is that event's exception itself (an ASGI middleware ends its span as the exception leaves it,
    on the way to the server, which logs it next: uvicorn's "Exception in ASGI application"). It is counted
    as an object, so that the log record written after the span ended does not count it again."""
    try:
        if not enabled():
            return
        trace_id = span.context.trace_id if span.context is not None else 0
        in_flight = sys.exception()
        for event in span.events:
            if event.name != "exception" or not event.attributes:
                continue
            kind = str(event.attributes.get("exception.type", ""))
            if not kind or (trace_id, kind) in _recent:
                continue
            if in_flight is not None and _is_event_of(in_flight, kind, event.attributes):
                _from_object(in_flight, span.name, trace_id)
                in_flight = None
                continue
            where = where_from_text(str(event.attributes.get("exception.stacktrace", "")))
            _count((kind, where[0] if where else "", span.name), trace_id)
            _remember(trace_id, kind)
    except Exception as problem:
        error_once("grouping an error", problem)


def _is_event_of(error: BaseException, kind: str, attributes: Any) -> bool:
    """``error`` is what the event recorded: same type, and same message where the event has one."""
    cls = type(error)
    if kind not in (type_name(cls), f"{cls.__module__}.{cls.__qualname__}"):  # the SDK's: __main__.Class
        return False
    message = attributes.get("exception.message")
    return message is None or str(message) == str(error)
