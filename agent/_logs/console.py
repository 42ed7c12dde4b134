"""Trace ids on the console, on lines written inside a span, in the form the line already has.

Whatever parsed the console before must still parse it: a line that is a JSON object gets a ``"trace_id"``
field (before its closing brace, in its own spacing; none if it has one already), any other line
`` trace_id=<32 hex>`` after the message (a logfmt line thus gets one more pair, plain text a suffix).
Only console lines get it, and only where we can read the line safely:
- stdlib: ``StreamHandler`` (and subclasses such as the last-resort handler) writing to stdout/stderr. With
  the stock ``logging.Formatter`` or a subclass that keeps its ``format`` (uvicorn's coloured one does):
  every line. With a formatter of its own (python-json-logger, a hand-written JSON one): only JSON object
  lines, the others stay byte-for-byte the same. File handlers are left alone.
- loguru: its default stderr sink (handler 0), whatever its format; ``serialize=True`` sinks writing to
  stdout/stderr, whatever their handler number, get it inside the record: ``record.extra.trace_id`` (as if the
  app had bound it; the rest of the JSON is the same text). Other sinks the app adds (its own formats, files,
  functions) are left alone.
Lines written outside a span are untouched. The id goes after the message and before any traceback, so
``grep <trace id>`` finds the line and the traceback still starts on its own line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import get_current_span

__all__ = [
    "TRACE_ID_PREFIX", "StdlibConsole", "current_trace_id", "serialized_with_trace_id", "with_trace_id",
]

TRACE_ID_PREFIX = " trace_id="
_LOGURU_JSON = json.JSONEncoder(default=str, ensure_ascii=False)
"""What ``json.dumps(value, default=str, ensure_ascii=False)`` (loguru's serialize) builds on every call."""


def current_trace_id() -> int:
    """The current span's trace id, 0 outside a span."""
    return int(get_current_span().get_span_context().trace_id)


def with_trace_id(text: str, head_end: int, trace_id: int) -> str:
    """The trace id in ``text``, whose line (or JSON object) ends at ``head_end`` (before a traceback or the
    newline): a field of a JSON object, else `` trace_id=...`` there."""
    head, tail = text[:head_end], text[head_end:]
    hex_id = f"{trace_id:032x}"
    if is_json_object(head):
        return f"{_json_with_trace_id(head, hex_id)}{tail}"
    return f"{head}{TRACE_ID_PREFIX}{hex_id}{tail}"


def serialized_with_trace_id(text: str, extra: Mapping[str, Any], trace_id: int) -> str:
    """loguru's ``serialize=True`` line ``text`` with the trace id in its ``record.extra`` object.

    loguru writes ``"extra": <extra>`` with ``json.dumps(..., default=str, ensure_ascii=False)``; the same
    call on the record's ``extra`` gives that exact text, found in the line (no string value of the line can
    hold it: a quote inside a JSON string is escaped), and the field goes before its closing brace, in the
    same spacing (``json.dumps``'s default separators). The rest
    of the line is left as loguru wrote it, byte for byte. Unchanged if that text is not found or ``extra``
    has a ``trace_id`` already.
    """
    if "trace_id" in extra:
        return text
    dumped = _LOGURU_JSON.encode(extra)
    key = f'"extra": {dumped}'
    at = text.find(key)
    if at < 0:
        return text
    id_field = f'"trace_id": "{trace_id:032x}"}}'
    field = f'"extra": {{{id_field}' if dumped == "{}" else f'"extra": {dumped[:-1]}, {id_field}'
    return f"{text[:at]}{field}{text[at + len(key):]}"


def is_json_object(text: str) -> bool:
    """The whole of ``text`` is one JSON object (braces alone are not enough: ``{x} done`` is text)."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return False
    try:
        return isinstance(json.loads(stripped), dict)
    except ValueError:
        return False


def _json_with_trace_id(head: str, hex_id: str) -> str:
    """``head`` (a JSON object) with a ``trace_id`` field before its closing brace, in the object's own
    spacing; unchanged when it has a ``trace_id`` already."""
    value = json.loads(head)
    if "trace_id" in value:
        return head
    close = head.rindex("}")
    spaced = '": ' in head or not value
    field = f'"trace_id": "{hex_id}"' if spaced else f'"trace_id":"{hex_id}"'
    if not value:
        return f"{head[:close].rstrip()}{field}{head[close:]}"
    comma = ", " if spaced else ","
    return f"{head[:close].rstrip()}{comma}{field}{head[close:]}"


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
                trace_id = current_trace_id()
                if not trace_id or not _is_console(handler):
                    return text
                head_end = stdlib_head_end(text, record)
                formatter = handler.formatter
                own_format = formatter is not None and type(formatter).format is not plain_format
                if own_format and not is_json_object(text[:head_end]):
                    return text  # a format of its own that we cannot read: left as it is
                return with_trace_id(text, head_end, trace_id)
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
