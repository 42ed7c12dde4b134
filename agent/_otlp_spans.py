"""OTLP protobuf encoding of finished spans, straight to bytes.

Why: the SDK's encoder (``encode_spans``) builds a protobuf message per span, per attribute and per value,
and hashes every span's Resource (a JSON dump of its attributes) to group them: about 36 us a span on the
export thread, all of it holding the GIL a sync worker needs for its requests. Writing the wire format
directly, with the resource and scope encoded once, costs a fraction of that. The output decodes to the same
ExportTraceServiceRequest the SDK builds (tests/test_agent_export.py compares them); spans are grouped by
resource and scope *object* rather than by equal value, which only matters for providers that build equal
resources twice (then there are two ResourceSpans, still valid OTLP).

Wire format reference: opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Final

from obs.agent._logs.otlp import _field, _key_value, _varint
from opentelemetry.exporter.otlp.proto.common._internal import _encode_instrumentation_scope, _encode_resource
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext

__all__ = ["SpanEncoder"]

_FIXED64: Final = struct.Struct("<Q").pack
_FIXED32: Final = struct.Struct("<I").pack
_FLAGS_HAS_IS_REMOTE: Final = 0x100
_FLAGS_IS_REMOTE: Final = 0x200
_CACHE_LIMIT: Final = 4096


_entries: dict[tuple[int, str, object], bytes] = {}
"""(field tag, key, str or int value) -> the encoded repeated-KeyValue entry: most span attributes repeat
(method, scheme, route, status code, addresses), and this turns their four nested fields into one lookup."""


def _attributes(tag: int, attributes: Mapping[str, object] | None) -> bytes:
    """Repeated KeyValue entries under ``tag``; a value the format cannot carry is left out (as the SDK
    encoder does)."""
    if not attributes:
        return b""
    # BoundedAttributes (immutable once the span ended): its own dict iterates four times faster than the
    # Mapping mixin does through its lock
    attributes = getattr(attributes, "_dict", attributes)
    entries = _entries
    parts = []
    for key, value in attributes.items():
        kind = type(value)
        if kind is str or kind is int:
            cache_key = (tag, key, value)
            entry = entries.get(cache_key)
            if entry is None:
                if len(entries) > _CACHE_LIMIT:
                    entries.clear()
                entry = entries[cache_key] = _field(tag, _key_value(key, value))
            parts.append(entry)
            continue
        try:
            parts.append(_field(tag, _key_value(key, value)))
        except Exception:  # the SDK encoder skips such values too
            continue
    return b"".join(parts)


def _flags(parent: SpanContext | None) -> bytes:
    """Span flags (fixed32, field 16 of Span / 6 of Link): the parent-is-remote bits, as the SDK sets them."""
    flags = _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if parent is not None and parent.is_remote else 0)
    return _FIXED32(flags)


def _link(link: Link) -> bytes:
    context = link.context
    parts = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        _attributes(0x22, link.attributes),
    ]
    if link.dropped_attributes:
        parts.append(b"\x28" + _varint(link.dropped_attributes))
    parts.append(b"\x35" + _flags(context))
    return b"".join(parts)


class SpanEncoder:
    """Encodes a batch of spans into one serialized ExportTraceServiceRequest. Thread-safe.

    ``yield_every``: after that many spans, ``time.sleep(0)`` hands the GIL to a thread waiting for it, so
    a large batch is encoded in slices and the app's requests never wait behind the whole batch (0: never).
    """

    def __init__(self, yield_every: int = 0) -> None:
        self._yield_every = yield_every
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}
        self._names: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        with self._lock:
            if len(self._resources) > _CACHE_LIMIT or len(self._scopes) > _CACHE_LIMIT:
                self._resources.clear()
                self._scopes.clear()
            return self._encode(spans)

    def _encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        groups: dict[tuple[int, int], list[bytes]] = {}
        every = self._yield_every
        for index, span in enumerate(spans):
            if every and index and not index % every:
                time.sleep(0)
            resource, scope = span.resource, span.instrumentation_scope or None
            key = (self._resource(resource), self._scope(scope))
            groups.setdefault(key, []).append(_field(0x12, self.span(span)))
        by_resource: dict[int, list[bytes]] = {}
        for (resource_key, scope_key), encoded in groups.items():
            by_resource.setdefault(resource_key, []).append(
                _field(0x12, self._scopes[scope_key][1] + b"".join(encoded))
            )
        out = []
        for resource_key, scope_spans in by_resource.items():
            resource, resource_bytes = self._resources[resource_key]
            schema = _field(0x1A, resource.schema_url.encode()) if resource.schema_url else b""
            out.append(_field(0x0A, resource_bytes + b"".join(scope_spans) + schema))
        return b"".join(out)

    def _resource(self, resource: Resource) -> int:
        key = id(resource)
        known = self._resources.get(key)
        if known is None or known[0] is not resource:
            self._resources[key] = (resource, _field(0x0A, _encode_resource(resource).SerializeToString()))
        return key

    def _scope(self, scope: InstrumentationScope | None) -> int:
        key = id(scope)
        known = self._scopes.get(key)
        if known is None or known[0] is not scope:
            encoded = b""
            if scope is not None:
                encoded = _field(0x0A, _encode_instrumentation_scope(scope).SerializeToString())
                if scope.schema_url:
                    encoded += _field(0x1A, scope.schema_url.encode())
            self._scopes[key] = (scope, encoded)
        return key

    def _name(self, name: str) -> bytes:
        encoded = self._names.get(name)
        if encoded is None:
            if len(self._names) > _CACHE_LIMIT:
                self._names.clear()
            encoded = self._names[name] = _field(0x2A, name.encode("utf-8", "replace"))
        return encoded

    def span(self, span: ReadableSpan) -> bytes:
        """A Span message (trace.proto), fields in number order as the SDK writes them."""
        context = span.context
        if context is None:
            raise ValueError("a span without a context cannot be exported")
        parent = span.parent
        parts = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
                 b"\x12\x08" + context.span_id.to_bytes(8, "big")]
        trace_state = context.trace_state
        if trace_state:
            parts.append(_field(0x1A, ",".join(f"{k}={v}" for k, v in trace_state.items()).encode()))
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        parts.append(self._name(span.name))
        parts.append(b"\x30" + _varint(span.kind.value + 1))
        if span.start_time:
            parts.append(b"\x39" + _FIXED64(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + _FIXED64(span.end_time))
        parts.append(_attributes(0x4A, getattr(span, "_attributes", None) or span.attributes))
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))
        for event in span.events:
            body = b"\x09" + _FIXED64(event.timestamp) + _field(0x12, event.name.encode("utf-8", "replace"))
            body += _attributes(0x1A, event.attributes)
            if event.dropped_attributes:
                body += b"\x20" + _varint(event.dropped_attributes)
            parts.append(_field(0x5A, body))
        if span.dropped_events:
            parts.append(b"\x60" + _varint(span.dropped_events))
        for link in span.links:
            parts.append(_field(0x6A, _link(link)))
        if span.dropped_links:
            parts.append(b"\x70" + _varint(span.dropped_links))
        status = span.status
        status_body = b""
        if status.description:
            status_body += _field(0x12, status.description.encode("utf-8", "replace"))
        if status.status_code.value:
            status_body += b"\x18" + _varint(status.status_code.value)
        parts.append(_field(0x7A, status_body))
        parts.append(b"\x85\x01" + _flags(parent))
        return b"".join(parts)
