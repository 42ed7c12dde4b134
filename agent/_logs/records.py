"""The compact log record that crosses from the app thread to the export thread, and its conversion.

The bridges run on the app's threads, so they only copy what cannot wait (the message, the span context, the
code location, a formatted traceback) into a plain tuple. Everything that costs - SDK objects, attribute
cleaning, OTLP encoding - happens on the export thread in :class:`Converter`. A tuple is the cheapest
container to build and the smallest to hold while a burst waits in the queue.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final

from obs.agent._compat import LogRecord, ReadableLogRecord, ReadWriteLogRecord, SeverityNumber
from obs.agent._support import scrub
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.semconv.attributes import code_attributes, exception_attributes
from opentelemetry.trace import TraceFlags

__all__ = [
    "Converter",
    "ExceptionInfo",
    "LoguruExtra",
    "Record",
    "exception_info",
    "from_api_record",
    "severity_number",
    "severity_text",
    "thread_state",
]

ExceptionInfo = tuple[str, str, str]
"""``(exception.type, exception.message, exception.stacktrace)``, formatted on the thread that logged."""

Record = tuple[
    int,  # 0 time, ns since the epoch
    int,  # 1 severity number (OpenTelemetry)
    str,  # 2 severity text
    Any,  # 3 body
    str,  # 4 logger name: the instrumentation scope, and the logger.name attribute
    str | None,  # 5 code.file.path
    str | None,  # 6 code.function.name
    int,  # 7 code.line.number (0: unknown)
    Mapping[str, Any] | None,  # 8 extra attributes (loguru bind() extras, stdlib `extra=`), cleaned later
    ExceptionInfo | None,  # 9 exception
    int,  # 10 trace id (0: none)
    int,  # 11 span id
    int,  # 12 trace flags
    str | None,  # 13 event name (records from the OpenTelemetry logs API only)
]

class _ThreadState(threading.local):
    """Per-thread flags the bridges read on every record (class attributes are the defaults)."""

    exporting: bool = False
    """An obs export thread: records made there (the exporter's own logs) are never queued."""
    in_handlers: int = 0
    structlog_message: Any = None
    """What structlog is about to hand to a stdlib logger, its event already queued: that record is not."""
    """Depth of the app's stdlib handlers being run: loguru records made there are InterceptHandler copies."""


thread_state = _ThreadState()


class LoguruExtra(dict[str, Any]):
    """A loguru record's ``extra`` dict as obs's patcher leaves it: same content, plus the trace id.

    The type marks records obs already queued (loguru's PropagateHandler hands them to stdlib logging), and
    carries the trace id captured at creation to the console sink, even when sinks run on another thread.
    Built with dict's own constructor (no Python ``__init__``): this runs on every loguru call.
    """

    __slots__ = ("trace_id",)
    trace_id: int

    def __reduce__(self) -> tuple[Any, ...]:
        # enqueue=True sinks pickle records: rebuild as this type, with the same content and trace id
        return (_rebuild_extra, (dict(self), getattr(self, "trace_id", 0)))


def _rebuild_extra(content: dict[str, Any], trace_id: int) -> LoguruExtra:
    extra = LoguruExtra(content)
    extra.trace_id = trace_id
    return extra


_LEVEL_TEXT: Final = {"WARNING": "WARN", "CRITICAL": "FATAL"}
"""Python level names that differ from OpenTelemetry's short names (as the SDK's LoggingHandler maps them)."""

_STEPS: Final = (
    (50, SeverityNumber.FATAL),
    (40, SeverityNumber.ERROR),
    (30, SeverityNumber.WARN),
    (20, SeverityNumber.INFO),
    (10, SeverityNumber.DEBUG),
    (1, SeverityNumber.TRACE),
)


def _severity_for(levelno: int) -> int:
    """Each band of ten Python levels maps to one OpenTelemetry band of four (INFO, INFO2, INFO3, INFO4)."""
    for floor, base in _STEPS:
        if levelno >= floor:
            step = 0 if floor == 1 else min(levelno - floor, 3)
            return int(base.value) + step
    return int(SeverityNumber.UNSPECIFIED.value)


_SEVERITY_TABLE: Final = tuple(_severity_for(level) for level in range(64))


def severity_number(levelno: int) -> int:
    """Python (and loguru) level number to OpenTelemetry severity: 5 (TRACE) -> 1, 25 (SUCCESS) -> 12."""
    if 0 <= levelno < 64:
        return _SEVERITY_TABLE[levelno]
    return int(SeverityNumber.FATAL4.value) if levelno > 0 else 0


def severity_text(level_name: str) -> str:
    """Level name as shown in backends: Python's WARNING and CRITICAL become WARN and FATAL."""
    return _LEVEL_TEXT.get(level_name, level_name)


def _type_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def exception_info(
    kind: type[BaseException] | None,
    value: BaseException | None,
    trace: TracebackType | None,
    formatted: str | None = None,
) -> ExceptionInfo | None:
    """Format an exception now: its traceback's frames keep changing after the log call returns."""
    if kind is None:
        return None
    stack = formatted if formatted is not None else "".join(traceback.format_exception(kind, value, trace))
    return _type_name(kind), "" if value is None else str(value), stack.rstrip("\n")


def from_api_record(record: ReadWriteLogRecord) -> Record:
    """A record emitted through the OpenTelemetry logs API (our LoggerProvider) as a compact record."""
    log = record.log_record
    scope = record.instrumentation_scope
    severity = log.severity_number
    attributes = dict(log.attributes) if log.attributes else None
    return (
        log.timestamp or log.observed_timestamp or 0,
        int(severity.value) if severity is not None else 0,
        log.severity_text or "",
        log.body,
        scope.name if scope is not None else "",
        None,
        None,
        0,
        attributes,
        None,
        log.trace_id or 0,
        log.span_id or 0,
        int(log.trace_flags or 0),
        log.event_name,
    )


_PLAIN: Final = (str, bool, int, float, bytes)


def _attribute_value(value: Any) -> Any:
    """An attribute value OTLP can carry: scalars and lists of them as they are, anything else as text."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)  # beyond OTLP's int64
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Sequence):
        return [_attribute_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _attribute_value(item) for key, item in value.items() if item is not None}
    return str(value)


def _scrubbed_body(scrubber: scrub.Scrubber, body: Any) -> Any:
    if isinstance(body, str):
        return scrubber.text(body)
    if isinstance(body, Mapping):
        body = scrubber.attributes(body)
    return body if body is None or isinstance(body, _PLAIN) else _attribute_value(body)


class _HashedResource(Resource):
    """A Resource that computes its hash once.

    The OTLP encoder groups records by resource in a dict, and Resource.__hash__ serialises all attributes
    to JSON on every call: that alone cost several microseconds per exported record.
    """

    def __init__(self, base: Resource) -> None:
        super().__init__(base.attributes, base.schema_url)
        self._obs_hash = Resource.__hash__(self)

    def __hash__(self) -> int:
        return self._obs_hash


class Converter:
    """Turns compact records into the SDK's ReadableLogRecord for the exporter. Runs on the export thread."""

    def __init__(self, resource: Callable[[], Resource]) -> None:
        self._resource_source = resource
        self._resource_base: Resource | None = None
        self._resource: Resource = Resource.get_empty()
        self._scopes: dict[str, InstrumentationScope] = {}
        self._severities = {int(member.value): member for member in SeverityNumber}
        self._empty_context = Context()

    def refresh(self) -> None:
        """Pick up the provider's resource, which changes after fork (per-process attributes)."""
        base = self._resource_source()
        if base is not self._resource_base:
            self._resource_base = base
            self._resource = _HashedResource(base)

    def _scope(self, name: str) -> InstrumentationScope:
        scope = self._scopes.get(name)
        if scope is None:
            if len(self._scopes) > 10_000:
                self._scopes.clear()
            scope = self._scopes[name] = InstrumentationScope(name)
        return scope

    def convert(self, record: Record) -> ReadableLogRecord:
        (timestamp, number, text, body, name, path, function, line, extra, exception,
         trace_id, span_id, flags, event_name) = record
        scrubber = scrub.current()
        attributes: dict[str, Any] = {}
        if extra:
            for key, value in scrubber.attributes(extra).items():
                if value is not None:
                    attributes[str(key)] = _attribute_value(value)
        if path is not None:
            attributes[code_attributes.CODE_FILE_PATH] = path
            attributes[code_attributes.CODE_FUNCTION_NAME] = function or ""
            attributes[code_attributes.CODE_LINE_NUMBER] = line
        if name and path is not None:
            attributes["logger.name"] = name
        if exception is not None:
            attributes[exception_attributes.EXCEPTION_TYPE] = exception[0]
            attributes[exception_attributes.EXCEPTION_MESSAGE] = scrubber.text(exception[1])
            attributes[exception_attributes.EXCEPTION_STACKTRACE] = scrubber.text(exception[2])
        log = LogRecord(
            timestamp=timestamp,
            observed_timestamp=timestamp,
            context=self._empty_context,
            severity_text=text,
            severity_number=self._severities.get(number, SeverityNumber.UNSPECIFIED),
            body=_scrubbed_body(scrubber, body),
            attributes=attributes,
            event_name=event_name,
        )
        # The span context was captured when the record was made; this thread has its own (empty) one.
        log.trace_id = trace_id
        log.span_id = span_id
        log.trace_flags = TraceFlags(flags)
        return ReadableLogRecord(
            log_record=log, resource=self._resource, instrumentation_scope=self._scope(name)
        )
