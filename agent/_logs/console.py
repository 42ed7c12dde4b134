"""Trace ids on the console: `` trace_id=<32 hex>`` after the message of lines written inside a span.

Only console lines get it, and only where the line format is plain text we can read safely:
- stdlib: ``StreamHandler`` (and subclasses such as the last-resort handler) writing to stdout/stderr, whose
  formatter is the stock ``logging.Formatter`` or a subclass that keeps its ``format`` method (uvicorn's
  coloured formatter does). JSON formatters override ``format``, so their lines stay byte-for-byte the same;
  file handlers are left alone.
- loguru: its default stderr sink (handler 0), whatever its format.
Lines written outside a span are untouched. The id goes after the message and before any traceback, so
``grep <trace id>`` finds the line and the traceback still starts on its own line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from opentelemetry.trace import get_current_span

__all__ = ["TRACE_ID_PREFIX", "StdlibConsole", "current_trace_id", "with_trace_id"]

TRACE_ID_PREFIX = " trace_id="


def current_trace_id() -> int:
    """The current span's trace id, 0 outside a span."""
    return int(get_current_span().get_span_context().trace_id)


def with_trace_id(text: str, head_end: int, trace_id: int) -> str:
    """Insert `` trace_id=...`` at ``head_end`` (the end of the message, before a traceback or newline)."""
    return f"{text[:head_end]}{TRACE_ID_PREFIX}{trace_id:032x}{text[head_end:]}"


def stdlib_head_end(text: str, record: logging.LogRecord) -> int:
    """Where the stock Formatter's message part ends: before the exception text and the stack, if any."""
    end = len(text)
    for tail in (record.exc_text, record.stack_info):
        if tail:
            found = text.find(tail)
            if 0 <= found < end:
                end = found
    while end > 0 and text[end - 1] == "\n":
        end -= 1
    return end


def loguru_head_end(text: str, message: str) -> int:
    """Where loguru's formatted line ends: after the message, before the newline (and any traceback)."""
    found = text.find(message) if message else -1
    start = found + len(message) if found >= 0 else 0
    newline = text.find("\n", start)
    return len(text) if newline < 0 else newline


def _is_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return stream is not None and (
        stream is sys.stderr or stream is sys.stdout or stream is sys.__stderr__ or stream is sys.__stdout__
    )


class StdlibConsole:
    """Adds the trace id to console lines of stdlib stream handlers, by overriding StreamHandler.format."""

    def __init__(self) -> None:
        self._installed = False
        self._had_own: Any = None

    def install(self) -> None:
        if self._installed:
            return
        self._installed = True
        self._had_own = logging.StreamHandler.__dict__.get("format")
        base = self._had_own or logging.Handler.format
        plain_format = logging.Formatter.format

        def format(handler: logging.Handler, record: logging.LogRecord) -> str:
            text: str = base(handler, record)
            try:
                formatter = handler.formatter
                if formatter is not None and type(formatter).format is not plain_format:
                    return text
                trace_id = current_trace_id()
                if not trace_id or not _is_console(handler):
                    return text
                return with_trace_id(text, stdlib_head_end(text, record), trace_id)
            except Exception:
                return text

        format.__obs__ = True  # type: ignore[attr-defined]
        logging.StreamHandler.format = format  # type: ignore[method-assign, assignment]

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        current = logging.StreamHandler.__dict__.get("format")
        if getattr(current, "__obs__", False):
            if self._had_own is None:
                del logging.StreamHandler.format
            else:
                logging.StreamHandler.format = self._had_own  # type: ignore[method-assign]
