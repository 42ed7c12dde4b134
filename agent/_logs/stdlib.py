"""The stdlib logging bridge: every record that reaches ``Logger.callHandlers`` is also queued for export.

Why not a handler on the root logger (what the SDK and the stock instrumentation do): logging prints the
last-resort stderr line only when no handler at all was found, so a root handler silences the warnings of apps
that never configured logging - and the SDK's own export errors. Wrapping ``callHandlers`` (as Sentry does)
leaves the app's handlers, their count and the last resort exactly as they were, and also sees records of
loggers with ``propagate=False``.

Levels: a record is only made when the app's logger levels allow it. When the root logger sits above the
export level (Python's default WARNING, with the default export level INFO), the bridge lowers it, and hides
the extra records from the app's handlers, so the console does not change. The lowered level is a distinct
int object: once the app sets any root level itself (``basicConfig(level=...)``, ``dictConfig``), its level
rules again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from obs.agent._logs.records import (
    LoguruExtra,
    Record,
    exception_info,
    severity_number,
    severity_text,
    thread_state,
)
from obs.agent._support.report import error_once
from opentelemetry.trace import get_current_span

__all__ = ["StdlibBridge", "StdlibErrors"]

_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName",
    # added by opentelemetry-instrumentation-logging's record factory
    "otelSpanID", "otelTraceID", "otelTraceSampled", "otelServiceName",
}
"""Attributes every LogRecord has; any other came from ``extra=`` (or a filter) and becomes an attribute."""


_TELEMETRY_LOGGERS: Final = ("opentelemetry", "obs")
"""Loggers of the telemetry stack itself: an exception they log (OpenTelemetry's "Failed to detach context")
is not one of the app's failures, so it is not grouped (the record is still exported)."""


class _AgentLevel(int):
    """The root level obs set; its identity tells it apart from any level the app sets later."""


class StdlibBridge:
    """Install with :meth:`install`; :meth:`uninstall` restores ``callHandlers`` and the root level."""

    def __init__(
        self, submit: Callable[[Record], None], threshold: int, skipped: frozenset[str] = frozenset(),
    ) -> None:
        self._submit = submit
        self._skipped = skipped
        self._threshold = threshold
        self._original: Any = None
        self._agent_level: _AgentLevel | None = None
        self._app_root_level = logging.WARNING

    def install(self) -> None:
        if self._original is not None:
            return
        root = logging.getLogger()
        original = logging.Logger.callHandlers
        self._original = original
        if root.level > self._threshold:
            self._app_root_level = root.level
            self._agent_level = _AgentLevel(self._threshold)
            root.setLevel(self._agent_level)
        bridge = self

        def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            if bridge._agent_level is not None and bridge.hidden_from_app(logger, record):
                bridge.capture(record)
                return
            state = thread_state
            state.in_handlers += 1
            try:
                original(logger, record)
            finally:
                state.in_handlers -= 1
                bridge.capture(record)

        call_handlers.__obs__ = True  # type: ignore[attr-defined]
        call_handlers.__wrapped__ = original  # type: ignore[attr-defined]
        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign, assignment]

    def uninstall(self) -> None:
        if self._original is None:
            return
        if getattr(logging.Logger.callHandlers, "__obs__", False):
            logging.Logger.callHandlers = self._original  # type: ignore[method-assign]
        self._original = None
        root = logging.getLogger()
        if self._agent_level is not None and root.level is self._agent_level:
            root.setLevel(self._app_root_level)
        self._agent_level = None

    def hidden_from_app(self, logger: logging.Logger, record: logging.LogRecord) -> bool:
        """True for a record made only because obs lowered the root level: the app would not have seen it."""
        agent_level = self._agent_level
        if agent_level is None or record.levelno >= self._app_root_level:
            return False
        node: logging.Logger | None = logger
        while node is not None:
            if node.level:
                return node.level is agent_level
            node = node.parent
        return False

    def capture(self, record: logging.LogRecord) -> None:
        """Copy what the export needs from the record; the span context is the one current right now."""
        try:
            state = thread_state
            if record.levelno < self._threshold or record.name in self._skipped or state.exporting:
                if record.exc_info and record.levelno >= logging.ERROR:  # not exported, still a failure
                    _group(record, get_current_span().get_span_context().trace_id)
                return
            if state.structlog_message is not None and record.msg is state.structlog_message:
                state.structlog_message = None
                return  # structlog's event, queued by its bridge with its bound context
            fields = record.__dict__
            extra_keys = fields.keys() - _STANDARD
            if extra_keys and "extra" in extra_keys and isinstance(fields["extra"], LoguruExtra):
                return  # a loguru record handed to stdlib (loguru's PropagateHandler): already queued
            extra = {key: fields[key] for key in extra_keys} if extra_keys else None
            context = get_current_span().get_span_context()
            exc = record.exc_info
            if exc and record.levelno >= logging.ERROR:
                _group(record, context.trace_id)
            self._submit((
                int(record.created * 1e9),
                severity_number(record.levelno),
                severity_text(record.levelname),
                _body(record),
                record.name,
                record.pathname,
                record.funcName,
                record.lineno or 0,
                extra,
                exception_info(exc[0], exc[1], exc[2], record.exc_text) if exc else None,
                context.trace_id,
                context.span_id,
                int(context.trace_flags),
                None,
            ))
        except Exception as error:
            error_once("bridging a stdlib log record", error)


def _group(record: logging.LogRecord, trace_id: int) -> None:
    """A record at ERROR or above with an exception: the exception goes to the error groups
    (:mod:`obs.agent._errors`), unless the telemetry stack logged it about itself."""
    exc = record.exc_info
    if exc and not record.name.startswith(_TELEMETRY_LOGGERS):
        from obs.agent._errors.record import logged

        logged(exc[1], trace_id)


class StdlibErrors:
    """Exceptions logged at ERROR or above go to the error groups when the bridge is not installed (logs not
    exported, or stdlib logging not captured): a failure is a failure whether its log line is exported or not.

    Hooked with logging's record factory (``logging.setLogRecordFactory``, public API, chained to the factory
    in place): every record the app's logger levels let through is made by it, and nothing the app's handlers
    or the last-resort output see changes. A record without an exception costs one call and a test.
    """

    def __init__(self) -> None:
        self._original: Callable[..., logging.LogRecord] | None = None
        self.installed: Callable[..., logging.LogRecord] | None = None
        """The factory this hook set; None once uninstalled (a factory left in another's chain stops then)."""

    def install(self) -> None:
        if self._original is not None:
            return
        original = self._original = logging.getLogRecordFactory()
        hook = self

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = original(*args, **kwargs)
            if record.exc_info and record.levelno >= logging.ERROR and hook.installed is factory:
                try:
                    _group(record, get_current_span().get_span_context().trace_id)
                except Exception as error:
                    error_once("grouping a logged exception", error)
            return record

        self.installed = factory
        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        """Restore the factory found at install, unless another was set on top of ours since (left alone:
        ours then stays in its chain, and stops grouping once the agent is off)."""
        if self._original is None:
            return
        if logging.getLogRecordFactory() is self.installed:
            logging.setLogRecordFactory(self._original)
        self._original = self.installed = None


def _body(record: logging.LogRecord) -> Any:
    """The message as the app's formatter sees it; a dict logged without arguments stays structured."""
    if not record.args and isinstance(record.msg, Mapping):
        return dict(record.msg)
    cached = record.__dict__.get("message")
    if isinstance(cached, str):
        return cached
    try:
        return record.getMessage()
    except Exception:
        return str(record.msg)
