"""OTLP protobuf encoding of finished spans, straight to bytes.

Why: the SDK's encoder (``encode_spans``) builds a protobuf message per span, per attribute and per value,
and hashes every span's Resource (a JSON dump of its attributes) to group them: costly per span on the
export thread, all of it holding the GIL a sync worker needs for its requests. Writing the wire format
directly, with the resource and scope encoded once, costs a fraction of that. The output decodes to the same
ExportTraceServiceRequest the SDK builds (tests/test_agent_otlp_spans.py compares them); spans are grouped by
their encoded resource and scope, so equal ones share a ResourceSpans or ScopeSpans as with the SDK.

Wire format reference: opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

from obs.agent._compat import plain_attributes, span_attributes
from obs.agent._otlp.wire import FIXED32, FIXED64, field, key_value, resource_message, scope_message, varint
from obs.agent._support import scrub
from obs.agent._support.sql_text import QUERY_TEXT_KEYS
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext

__all__ = ["EncodedSpan", "SpanEncoder"]

_FLAGS_HAS_IS_REMOTE: Final = 0x100
_FLAGS_IS_REMOTE: Final = 0x200
_CACHE_LIMIT: Final = 4096


_entries: dict[tuple[object, ...], bytes] = {}
"""(field tag, key, str or int value) -> the encoded repeated-KeyValue entry, scrubbed: most span attributes
repeat (method, scheme, route, status code, addresses), and this turns their four nested fields and the
scrubber's look into one lookup. A statement's key also holds the database system: its dialect decides what
is a literal."""
_entries_scrubber: list[scrub.Scrubber] = [scrub.current()]
"""The scrubber the cached entries were made with: another one (the agent's, from settings) clears them."""


def _attributes(tag: int, attributes: Mapping[str, object] | None) -> bytes:
    """Repeated KeyValue entries under ``tag``; a value the format cannot carry is left out (as the SDK
    encoder does)."""
    if not attributes:
        return b""
    # BoundedAttributes (immutable once the span ended): its own dict iterates four times faster than the
    # Mapping mixin does through its lock
    attributes = plain_attributes(attributes)
    entries = _entries
    scrubber = scrub.current()
    if _entries_scrubber[0] is not scrubber:
        entries.clear()
        _entries_scrubber[0] = scrubber
    parts = []
    for key, value in attributes.items():
        kind = type(value)
        if kind is str or kind is int:
            cache_key: tuple[object, ...] = (tag, key, value)
            if key in QUERY_TEXT_KEYS:
                cache_key = (tag, key, value, scrub.system_of(attributes))
            entry = entries.get(cache_key)
            if entry is None:
                if len(entries) > _CACHE_LIMIT:
                    entries.clear()
                clean = scrubber.value(key, value, attributes)
                entry = entries[cache_key] = field(tag, key_value(key, clean))
            parts.append(entry)
            continue
        try:
            parts.append(field(tag, key_value(key, scrubber.value(key, value, attributes))))
        except Exception:  # the SDK encoder skips such values too
            continue
    return b"".join(parts)


def _flags(parent: SpanContext | None) -> bytes:
    """Span flags (fixed32, field 16 of Span / 6 of Link): the parent-is-remote bits, as the SDK sets them."""
    flags = _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if parent is not None and parent.is_remote else 0)
    return FIXED32(flags)


def _link(link: Link) -> bytes:
    context = link.context
    parts = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        _attributes(0x22, link.attributes),
    ]
    if link.dropped_attributes:
        parts.append(b"\x28" + varint(link.dropped_attributes))
    parts.append(b"\x35" + _flags(context))
    return b"".join(parts)


class EncodedSpan(NamedTuple):
    """One finished span as a ScopeSpans.spans entry, with the encoded resource and scope it belongs under
    (the same bytes objects for every span of a provider, so grouping a batch by them is cheap)."""

    resource: bytes
    """ResourceSpans.resource and ResourceSpans.schema_url, encoded."""
    scope: bytes
    """ScopeSpans.scope and ScopeSpans.schema_url, encoded."""
    entry: bytes


class SpanEncoder:
    """Encodes finished spans to OTLP protobuf. Thread-safe.

    :meth:`prepare` encodes one span as it ends, on the app's thread (only sampled spans);
    :meth:`join` then builds an ExportTraceServiceRequest from a batch of them with a few byte joins. Why
    not encode on the export thread: there, encoding a batch of 512 spans holds the GIL for milliseconds, and
    every hand-over between it and a busy request thread waits out the interpreter's 5 ms switch interval,
    stretching the export into contention that showed in the FastAPI example's p99, several times the
    plain app's (found with the export's wall and thread times).
    """

    def __init__(self) -> None:
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}
        self._names: dict[str, bytes] = {}
        self._names_scrubber = scrub.current()

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """One serialized ExportTraceServiceRequest holding ``spans``."""
        return self.join([self.prepare(span) for span in spans])

    def prepare(self, span: ReadableSpan) -> EncodedSpan:
        """``span`` encoded, ready for :meth:`join`."""
        if len(self._resources) > _CACHE_LIMIT or len(self._scopes) > _CACHE_LIMIT:
            self._resources = {}
            self._scopes = {}
        scope = self._scope(span.instrumentation_scope or None)[1]
        return EncodedSpan(self._resource(span.resource)[1], scope, field(0x12, self.span(span)))

    @staticmethod
    def join(spans: Sequence[EncodedSpan]) -> bytes:
        """The ExportTraceServiceRequest of prepared spans, resources and scopes in first-seen order."""
        groups: dict[tuple[bytes, bytes], list[bytes]] = {}
        for resource, scope, entry in spans:
            found = groups.get((resource, scope))
            if found is None:
                found = groups[resource, scope] = []
            found.append(entry)
        by_resource: dict[bytes, list[bytes]] = {}
        for (resource, scope), encoded in groups.items():
            by_resource.setdefault(resource, []).append(field(0x12, scope + b"".join(encoded)))
        return b"".join(field(0x0A, resource + b"".join(scope_spans))
                        for resource, scope_spans in by_resource.items())

    def _resource(self, resource: Resource) -> tuple[Resource, bytes]:
        known = self._resources.get(id(resource))
        if known is None or known[0] is not resource:
            encoded = field(0x0A, resource_message(resource))
            if resource.schema_url:
                encoded += field(0x1A, resource.schema_url.encode())
            known = (resource, encoded)
            self._resources[id(resource)] = known
        return known

    def _scope(self, scope: InstrumentationScope | None) -> tuple[InstrumentationScope | None, bytes]:
        known = self._scopes.get(id(scope))
        if known is None or known[0] is not scope:
            encoded = b""
            if scope is not None:
                encoded = field(0x0A, scope_message(scope))
                if scope.schema_url:
                    encoded += field(0x1A, scope.schema_url.encode())
            known = (scope, encoded)
            self._scopes[id(scope)] = known
        return known

    def _name(self, name: str) -> bytes:
        scrubber = scrub.current()
        if scrubber is not self._names_scrubber:
            self._names = {}
            self._names_scrubber = scrubber
        encoded = self._names.get(name)
        if encoded is None:
            if len(self._names) > _CACHE_LIMIT:
                self._names.clear()
            encoded = self._names[name] = field(0x2A, scrubber.text(name).encode("utf-8", "replace"))
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
            parts.append(field(0x1A, ",".join(f"{k}={v}" for k, v in trace_state.items()).encode()))
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        parts.append(self._name(span.name))
        parts.append(b"\x30" + varint(span.kind.value + 1))
        if span.start_time:
            parts.append(b"\x39" + FIXED64(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + FIXED64(span.end_time))
        parts.append(_attributes(0x4A, span_attributes(span)))
        if span.dropped_attributes:
            parts.append(b"\x50" + varint(span.dropped_attributes))
        for event in span.events:
            body = b"\x09" + FIXED64(event.timestamp) + field(0x12, event.name.encode("utf-8", "replace"))
            body += _attributes(0x1A, event.attributes)
            if event.dropped_attributes:
                body += b"\x20" + varint(event.dropped_attributes)
            parts.append(field(0x5A, body))
        if span.dropped_events:
            parts.append(b"\x60" + varint(span.dropped_events))
        for link in span.links:
            parts.append(field(0x6A, _link(link)))
        if span.dropped_links:
            parts.append(b"\x70" + varint(span.dropped_links))
        status = span.status
        status_body = b""
        if status.description:
            status_body += field(0x12, scrub.current().text(status.description).encode("utf-8", "replace"))
        if status.status_code.value:
            status_body += b"\x18" + varint(status.status_code.value)
        parts.append(field(0x7A, status_body))
        parts.append(b"\x85\x01" + _flags(parent))
        return b"".join(parts)
