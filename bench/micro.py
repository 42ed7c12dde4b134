"""Unit costs of the SDK operations a request pays for, in µs each: what a budget per request is made of.

Each operation runs a few thousand times after a warm-up, in this one interpreter; the figures are for
comparing operations with each other, and with the per-layer costs of :mod:`bench.layers`.
Run: ``python -m bench.profile micro``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import Any

# What the stable HTTP semantic conventions put on a server span, and on the duration histogram.
SPAN_ATTRIBUTES = {
    "http.request.method": "GET", "url.scheme": "http", "url.path": "/get", "server.address": "127.0.0.1",
    "server.port": 8000, "network.peer.address": "127.0.0.1", "network.peer.port": 50000,
    "user_agent.original": "wrk", "network.protocol.version": "1.1", "client.address": "127.0.0.1",
}
METRIC_ATTRIBUTES: dict[str, str | int] = {
    "http.request.method": "GET", "url.scheme": "http", "http.route": "/get",
    "http.response.status_code": 200, "network.protocol.version": "1.1", "server.address": "127.0.0.1",
    "server.port": 8000,
}
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def timed(operation: Callable[[], object], count: int = 20_000) -> float:
    """µs per call, after a warm-up."""
    for _ in range(500):
        operation()
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return (time.perf_counter() - started) / count * 1e6


def _nothing() -> None:
    return None


def _error_grouping() -> list[tuple[str, float]]:
    """What error grouping (obs.agent._errors) adds: on every request of obs's middlewares, entering and
    leaving the operation; on a failure, placing and counting it (the raise itself is the app's cost)."""
    import json

    from obs.agent._errors.operation import CURRENT
    from obs.agent._errors.record import request_failed

    class Request:
        def operation(self) -> str:
            return "GET /parse"

    request = Request()

    def no_failure() -> None:
        CURRENT.reset(CURRENT.set(request))  # as obs.agent._server.request does it

    def raise_in_library() -> None:
        try:  # noqa: SIM105 - try costs less than contextlib.suppress: the bench measures it
            json.loads("{not json")
        except ValueError:
            pass

    def raise_and_group() -> None:
        try:
            json.loads("{not json")
        except ValueError as error:
            request_failed(error, "GET /parse", 1)

    raising = timed(raise_in_library, 5_000)
    return [
        ("error groups: a request that does not fail (operation in and out)",
         timed(no_failure) - timed(_nothing)),
        ("error groups: raise inside json.loads and catch (the app's own cost)", raising),
        ("  + grouped (innermost app frame, count, sample)", timed(raise_and_group, 5_000) - raising),
    ]


def measure() -> list[tuple[str, float]]:
    """(operation, µs) for metrics recording, span life cycle, batch queueing and OTLP encoding."""
    from obs.agent._otlp.spans import SpanEncoder
    from opentelemetry import context
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult as Result
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
    from opentelemetry.trace import SpanKind, Tracer, set_span_in_context

    class Keep(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[ReadableSpan] = []

        def export(self, spans: Sequence[ReadableSpan]) -> Result:
            self.spans.extend(spans)
            return Result.SUCCESS

    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    histogram = meter.create_histogram("http.server.request.duration", unit="s")
    active = meter.create_up_down_counter("http.server.active_requests")
    series: dict[tuple[str, str, int], list[int]] = {}
    method = {"http.request.method": "GET"}

    def dict_histogram() -> None:
        counts = series.setdefault(("GET", "/get", 200), [0] * (len(BOUNDS) + 1))
        counts[bisect.bisect_left(BOUNDS, 0.001)] += 1

    def server_span(tracer: Tracer, attributes: dict[str, Any] | None) -> Callable[[], None]:
        def run() -> None:
            span = tracer.start_span("GET /get", kind=SpanKind.SERVER, attributes=attributes)
            token = context.attach(set_span_in_context(span))
            span.set_attribute("http.route", "/get")
            span.set_attribute("http.response.status_code", 200)
            context.detach(token)
            span.end()
        return run

    def tracer(sampler: Any = None, processor: Any = None) -> Tracer:
        provider = TracerProvider(sampler=sampler) if sampler is not None else TracerProvider()
        if processor is not None:
            provider.add_span_processor(processor)
        return provider.get_tracer("bench")

    queued = BatchSpanProcessor(Keep(), max_queue_size=1 << 20, schedule_delay_millis=600_000,
                                max_export_batch_size=1 << 20)
    kept = Keep()
    server_span(tracer(processor=SimpleSpanProcessor(kept)), SPAN_ATTRIBUTES)()
    batch = kept.spans * 512
    encoder = SpanEncoder()
    grouping = _error_grouping()
    return [
        *grouping,
        ("histogram.record, 7 attributes (SDK)", timed(lambda: histogram.record(0.001, METRIC_ATTRIBUTES))),
        ("up-down counter +1 and -1, 1 attribute (SDK)",
         timed(lambda: (active.add(1, method), active.add(-1, method)))),
        ("same histogram in a dict of bucket counts (bisect)", timed(dict_histogram)),
        ("server span start..end, no attributes, no processor", timed(server_span(tracer(), None))),
        ("  with 10 attributes + 2 set later", timed(server_span(tracer(), SPAN_ATTRIBUTES))),
        ("  + BatchSpanProcessor (queueing only)",
         timed(server_span(tracer(processor=queued), SPAN_ATTRIBUTES))),
        ("  not sampled (ParentBased ratio 0)",
         timed(server_span(tracer(ParentBased(TraceIdRatioBased(0.0))), SPAN_ATTRIBUTES))),
        ("  ALWAYS_OFF", timed(server_span(tracer(ALWAYS_OFF), SPAN_ATTRIBUTES))),
        ("OTLP protobuf encoding, per span (batch of 512)",
         timed(lambda: encode_spans(batch).SerializePartialToString(), 20) / len(batch)),
        ("  obs's direct encoder (obs.agent._otlp.spans: prepared as each span ends, then joined)",
         timed(lambda: encoder.encode(batch), 20) / len(batch)),
    ]
