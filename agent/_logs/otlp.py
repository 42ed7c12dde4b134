"""OTLP protobuf encoding of compact records, straight to bytes.

Why: the SDK path (build LogRecord and ReadableLogRecord objects, then the exporter's encoder builds a
protobuf message per record, per attribute and per value) costs more on the export thread than loguru itself
spends on the line; while it runs, it holds the GIL the app needs. Writing the wire format directly, with the
code-location attributes of each call site encoded once and reused, costs a fraction of that. The output
decodes to the same ExportLogsServiceRequest the SDK builds (tests compare them).

Wire format reference: opentelemetry/proto/logs/v1/logs.proto and common/v1/common.proto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from obs.agent._compat import close_client_connections, exporter_shut_down, sdk_http_log_client
from obs.agent._logs.records import Record
from obs.agent._otlp.wire import (
    FIXED32,
    FIXED64,
    any_value,
    field,
    key_value,
    resource_message,
    varint,
)
from obs.agent._support import scrub
from opentelemetry.sdk.resources import Resource
from opentelemetry.semconv.attributes import code_attributes, exception_attributes

__all__ = ["DirectSender", "Encoder", "direct_sender", "scrub_body"]

_CACHE_LIMIT: Final = 4096


def _attribute(key: str, value: Any) -> bytes:
    """One entry of a repeated ``attributes`` field (field 6 of LogRecord)."""
    return field(0x32, key_value(key, value))


class Encoder:
    """Encodes a batch of compact records into one serialized ExportLogsServiceRequest."""

    def __init__(self, resource: Callable[[], Resource]) -> None:
        self._resource_source = resource
        self._resource_base: Resource | None = None
        self._resource_bytes = b""
        self._schema_url = b""
        self._sites: dict[tuple[str | None, str | None, int, str], bytes] = {}
        self._scopes: dict[str, bytes] = {}
        self._texts: dict[str, bytes] = {}

    def refresh(self) -> None:
        """Pick up the provider's resource, which changes after fork (per-process attributes)."""
        base = self._resource_source()
        if base is not self._resource_base:
            self._resource_base = base
            self._resource_bytes = field(0x0A, resource_message(base))
            self._schema_url = field(0x1A, base.schema_url.encode()) if base.schema_url else b""

    def encode(self, batch: Sequence[Record]) -> tuple[bytes, int]:
        """The serialized request, and how many records could not be encoded (left out of it)."""
        by_scope: dict[str, list[bytes]] = {}
        failed = 0
        for record in batch:
            try:
                encoded = field(0x12, self._record(record))
            except Exception:
                failed += 1
                continue
            by_scope.setdefault(record[4], []).append(encoded)
        scope_logs = b"".join(
            field(0x12, self._scope(name) + b"".join(records)) for name, records in by_scope.items()
        )
        return field(0x0A, self._resource_bytes + scope_logs + self._schema_url), failed

    def _scope(self, name: str) -> bytes:
        encoded = self._scopes.get(name)
        if encoded is None:
            if len(self._scopes) > _CACHE_LIMIT:
                self._scopes.clear()
            encoded = self._scopes[name] = field(0x0A, field(0x0A, name.encode("utf-8", "replace")))
        return encoded

    def _site(self, path: str | None, function: str | None, line: int, name: str) -> bytes:
        """The code-location and logger-name attributes of one call site, encoded once."""
        key = (path, function, line, name)
        encoded = self._sites.get(key)
        if encoded is None:
            if len(self._sites) > _CACHE_LIMIT:
                self._sites.clear()
            encoded = b""
            if path is not None:
                encoded = (
                    _attribute(code_attributes.CODE_FILE_PATH, path)
                    + _attribute(code_attributes.CODE_FUNCTION_NAME, function or "")
                    + _attribute(code_attributes.CODE_LINE_NUMBER, line)
                )
                if name:
                    encoded += _attribute("logger.name", name)
            self._sites[key] = encoded
        return encoded

    def _text(self, text: str) -> bytes:
        encoded = self._texts.get(text)
        if encoded is None:
            if len(self._texts) > _CACHE_LIMIT:
                self._texts.clear()
            encoded = self._texts[text] = field(0x1A, text.encode("utf-8", "replace"))
        return encoded

    def _record(self, record: Record) -> bytes:
        """A LogRecord message (logs.proto), fields in number order as the SDK writes them."""
        (timestamp, number, text, body, name, path, function, line, extra, exception,
         trace_id, span_id, flags, event_name) = record
        time = FIXED64(timestamp)
        scrubber = scrub.current()
        parts = [b"\x09", time]
        if number:
            parts.append(b"\x10" + varint(number))
        if text:
            parts.append(self._text(text))
        if body is not None:
            parts.append(field(0x2A, any_value(scrub_body(scrubber, body))))
        if extra:
            extra = scrubber.attributes(extra)
            parts.extend(_attribute(str(key), value) for key, value in extra.items() if value is not None)
        parts.append(self._site(path, function, line, name))
        if exception is not None:
            parts.append(_attribute(exception_attributes.EXCEPTION_TYPE, exception[0]))
            parts.append(_attribute(exception_attributes.EXCEPTION_MESSAGE, scrubber.text(exception[1])))
            parts.append(_attribute(exception_attributes.EXCEPTION_STACKTRACE, scrubber.text(exception[2])))
        if flags:
            parts.append(b"\x45" + FIXED32(flags))
        if trace_id:
            parts.append(b"\x4a\x10" + trace_id.to_bytes(16, "big"))
        if span_id:
            parts.append(b"\x52\x08" + span_id.to_bytes(8, "big"))
        parts.append(b"\x59" + time)
        if event_name:
            parts.append(field(0x62, event_name.encode("utf-8", "replace")))
        return b"".join(parts)


def scrub_body(scrubber: scrub.Scrubber, body: Any) -> Any:
    """A log body with its secrets replaced: text as free text, a mapping as attributes."""
    if isinstance(body, str):
        return scrubber.text(body)
    if isinstance(body, Mapping):
        return scrubber.attributes(body)
    return body


class DirectSender(Protocol):
    """Where the encoder's bytes go: the exporter's own way out, without its ``export()``."""

    announces_failures: bool
    """True when the exporter itself says why deliveries fail, so the exit line leaves those out."""

    def __call__(self, payload: bytes) -> bool:
        """Deliver one serialized ExportLogsServiceRequest; False when it was not delivered."""
        ...

    def forget_connections(self) -> None:
        """After fork, in the child: never share a connection with the parent."""
        ...


class _SdkHttpSender:
    """Sends our bytes through the SDK's OTLP/HTTP log exporter's own client.

    The client keeps everything configured on the exporter (endpoint, headers, compression, TLS, timeout,
    retries); only the encoding is ours. The SDK exporter logs each failure as a warning, which says nothing
    about the records lost: the exit line counts them.
    """

    announces_failures = False

    def __init__(self, exporter: object, client: Any) -> None:
        self._exporter = exporter
        self._client = client

    def __call__(self, payload: bytes) -> bool:
        if exporter_shut_down(self._exporter):
            return False
        return bool(getattr(self._client.export(payload), "success", False))

    def forget_connections(self) -> None:
        """Drop the pooled connections inherited from the parent, so that parent and child never write to
        one socket. Closing the child's copies of the sockets leaves the parent's connections open; the
        client opens new ones on its next request."""
        close_client_connections(self._client)


class _SerializedSender:
    """Hands our bytes to an exporter's ``export_serialized`` (the agent core's log exporter).

    Such an exporter owns its transport: it follows forks itself and says, once per run, why its deliveries
    fail (an unreachable or refusing endpoint), so repeating that at exit would be a second line for one
    problem.
    """

    announces_failures = True

    def __init__(self, export_serialized: Callable[[bytes], object]) -> None:
        self._export_serialized = export_serialized

    def __call__(self, payload: bytes) -> bool:
        return bool(self._export_serialized(payload))

    def forget_connections(self) -> None:
        return


def direct_sender(exporter: object) -> DirectSender | None:
    """The way to send our encoding through ``exporter``; None when it only takes SDK records.

    Two kinds of exporter take bytes: any exporter with ``export_serialized(payload: bytes) -> bool`` (the
    agent core's, under ``obs run``), and the SDK's OTLP/HTTP log exporter, through its private client (the
    SDK is pinned; if that client ever changes shape, this returns None). Every other exporter (a wrapper,
    a file or console exporter) gets SDK records through its ordinary ``export()``.
    """
    export_serialized = getattr(exporter, "export_serialized", None)
    if callable(export_serialized):
        return _SerializedSender(export_serialized)
    client = sdk_http_log_client(exporter)
    if client is None:
        return None
    return _SdkHttpSender(exporter, client)
