"""Unit costs of the SDK operations a request pays for, in µs each: what a budget per request is made of.

Each operation runs a few thousand times after a warm-up, in this one interpreter; the figures are for
comparing operations with each other, and with the per-layer costs of :mod:`bench.layers`.
Run: ``python -m bench.profile micro``.
"""

from __future__ import annotations

import bisect
import functools
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


def _database(rounds: int = 7) -> list[tuple[str, float]]:
    """What a sqlite3 query pays under contrib's DB-API instrumentation with obs's additions
    (obs.agent._integrations.database) and metrics views, traces not sampled (as most are at obs's defaults):
    ``db.client.response.returned_rows`` recorded and exported as contrib does it, dropped by obs's view
    only, and not recorded at all (obs: the integration's no-op histogram, and the view). sqlite3 reports a
    row count for writes only, so the UPDATE pays for the second histogram and the SELECT does not (a server
    driver's SELECT does too). Configurations alternate, ``rounds`` times; medians."""
    import os
    import sqlite3
    import statistics

    from obs.agent import catalog

    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", catalog.SEMCONV_OPT_IN)
    from obs.agent._integrations.database import enhance_dbapi
    from obs.agent._metrics.sdk import catalog_views
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.metrics import NoOpHistogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    kept = catalog_views(dropped=())
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)

    def connection(views: list[Any] | None) -> Any:
        """A connection made while the instrumentation is on (it keeps its integration), or a plain one."""
        instrumentor = SQLite3Instrumentor()
        if views is not None:
            provider = MeterProvider(metric_readers=[InMemoryMetricReader()], views=views)
            instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=provider)
        try:
            made = sqlite3.connect(":memory:")
        finally:
            if views is not None:
                instrumentor.uninstrument()
        made.execute("CREATE TABLE items (id integer primary key, name text)")
        made.execute("INSERT INTO items VALUES (1, 'apple')")
        return made

    # The integrations made before enhance_dbapi keep contrib's histogram; its span naming applies to all.
    connections = {"plain": connection(None), "kept": connection(kept), "view": connection(catalog_views())}
    enhance_dbapi()
    connections["obs"] = connection(catalog_views())
    queries = {"SELECT": ("SELECT name FROM items WHERE id = ?", (1,)),
               "UPDATE": ("UPDATE items SET name = ? WHERE id = ?", ("pear", 1))}
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for operation, (statement, parameters) in queries.items():
            for name, made in connections.items():
                cursor = made.cursor()
                samples.setdefault((operation, name), []).append(
                    timed(functools.partial(cursor.execute, statement, parameters), 5_000))
    attributes = {"db.system.name": "sqlite", "db.operation.name": "UPDATE", "db.collection.name": "items"}
    for _ in range(rounds):
        for name, views in (("view", catalog_views()), ("kept", kept)):
            rows_histogram = MeterProvider(metric_readers=[InMemoryMetricReader()], views=views).get_meter(
                "bench").create_histogram("db.client.response.returned_rows", unit="{row}")
            samples.setdefault(("record", name), []).append(
                timed(functools.partial(rows_histogram.record, 1, attributes)))
        samples.setdefault(("record", "obs"), []).append(
            timed(functools.partial(NoOpHistogram("rows").record, 1, attributes)))
    median = {key: statistics.median(values) for key, values in samples.items()}
    rows = [("returned-rows histogram.record, 3 attributes, aggregated (SDK)", median[("record", "kept")]),
            ("  dropped by a view", median[("record", "view")]),
            ("  the API's no-op histogram (obs)", median[("record", "obs")])]
    for operation in queries:
        plain = median[(operation, "plain")]
        rows += [
            (f"sqlite3 {operation}, no instrumentation", plain),
            ("  + DB-API instrumentation, returned rows recorded and exported",
             median[(operation, "kept")] - plain),
            ("  + the same, returned rows dropped by a view", median[(operation, "view")] - plain),
            ("  + the same, returned rows not recorded (obs)", median[(operation, "obs")] - plain),
        ]
    return rows


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
    database = _database()
    return [
        *grouping,
        *database,
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
