"""The direct span encoder (obs.agent._otlp.spans) against the SDK's own OTLP encoder.

Spans come from a real TracerProvider; both encodings are decoded as ExportTraceServiceRequest and compared
message for message (field order on the wire may differ, the decoded request may not).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from obs.agent._otlp.spans import SpanEncoder
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState


class _Keep(SpanProcessor):
    """Keeps every ended span, in order."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def _provider(resource: Resource, limits: SpanLimits | None = None) -> tuple[TracerProvider, _Keep]:
    kept = _Keep()
    provider = TracerProvider(resource=resource, span_limits=limits, shutdown_on_exit=False)
    provider.add_span_processor(kept)
    return provider, kept


@pytest.fixture
def varied() -> Iterator[list[ReadableSpan]]:
    """Spans using every field: kinds, parents local and remote, trace state, attribute types, events, an
    exception, links, statuses, dropped counts, two scopes (one with version, schema and attributes)."""
    provider, kept = _provider(Resource({"service.name": "shop", "k": (1, 2)}, schema_url="https://schema/r"),
                               SpanLimits(max_span_attributes=8, max_events=2, max_links=1))
    tracer = provider.get_tracer("lib.a", "1.0", schema_url="https://schema/s", attributes={"x": 1})
    other = provider.get_tracer("lib.b")
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", "v1"), ("b", "2")]))
    attributes = {"s": "é", "i": -5, "big": 2**62, "f": 1.5, "b": True, "strs": ("a", "b"), "ints": [1, 2],
                  "bools": (False,), "floats": (0.5,)}
    with tracer.start_as_current_span("root", kind=trace.SpanKind.SERVER, attributes=attributes,
                                      links=[Link(remote, {"l": 1}), Link(remote)]) as span:
        span.add_event("first", {"e": 2})
        span.add_event("second")
        span.add_event("third")
        span.set_attribute("over.the.limit", "dropped")
        span.set_status(Status(StatusCode.ERROR, "boom"))
        with other.start_as_current_span("child", kind=trace.SpanKind.CLIENT):
            pass
    context = trace.set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_span("remote child", context=context, kind=trace.SpanKind.CONSUMER) as span:
        span.set_status(Status(StatusCode.OK))
    with pytest.raises(ValueError), tracer.start_as_current_span("fails", kind=trace.SpanKind.PRODUCER):
        raise ValueError("no stock")
    with tracer.start_as_current_span("internal"):
        pass
    yield kept.spans
    provider.shutdown()


def _decoded(payload: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(payload)


def test_decodes_to_what_the_sdk_encoder_builds(varied: list[ReadableSpan]) -> None:
    """Every field of every span, its scope and its resource come out as the SDK encoder writes them."""
    assert len(varied) == 5
    assert _decoded(SpanEncoder().encode(varied)) == encode_spans(varied)


def test_cached_pieces_stay_right_across_batches(varied: list[ReadableSpan]) -> None:
    """A second batch through the same encoder (resource, scopes and attribute entries now cached) and a
    batch of one span each give the same requests as the SDK's."""
    encoder = SpanEncoder()
    encoder.encode(varied)
    assert _decoded(encoder.encode(varied)) == encode_spans(varied)
    for span in varied:
        assert _decoded(encoder.encode([span])) == encode_spans([span])


def test_spans_prepared_as_they_end_join_into_the_same_request(varied: list[ReadableSpan]) -> None:
    """Spans encoded one by one (as the span queue does when each ends), with the encoder's caches emptied
    in between, join into the request the SDK builds for the whole batch."""
    encoder = SpanEncoder()
    prepared = []
    for span in varied * 3:
        prepared.append(encoder.prepare(span))
        encoder = SpanEncoder()
    assert _decoded(SpanEncoder.join(prepared)) == encode_spans(varied * 3)


def test_two_resources_in_one_batch() -> None:
    """Spans of two providers (a resource changed after fork, say) go to two ResourceSpans, in order."""
    first, kept_first = _provider(Resource({"service.name": "a"}))
    second, kept_second = _provider(Resource({"service.name": "b", "process.pid": 7}))
    for provider in (first, second, first):
        with provider.get_tracer("t").start_as_current_span("s", attributes={"n": 1}):
            pass
    spans = [kept_first.spans[0], kept_second.spans[0], kept_first.spans[1]]
    decoded = _decoded(SpanEncoder().encode(spans))
    assert decoded == encode_spans(spans)
    assert [len(group.scope_spans[0].spans) for group in decoded.resource_spans] == [2, 1]


def test_many_distinct_values_overflow_the_cache() -> None:
    """More distinct attribute values than the entry cache holds (client ports, paths): still exact."""
    provider, kept = _provider(Resource({"service.name": "a"}))
    tracer = provider.get_tracer("t")
    for number in range(5000):
        with tracer.start_as_current_span("GET /items/{id}", attributes={"url.path": f"/items/{number}",
                                                                          "client.port": number}):
            pass
    encoder = SpanEncoder()
    for start in range(0, 5000, 1000):
        batch = kept.spans[start:start + 1000]
        assert _decoded(encoder.encode(batch)) == encode_spans(batch)
