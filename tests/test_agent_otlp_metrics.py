"""The direct metrics encoder (obs.agent._otlp.metrics) against the SDK's own OTLP encoder.

Metrics come from a real MeterProvider read by an in-memory reader; both encodings are decoded as
ExportMetricsServiceRequest and compared message for message.
"""

from __future__ import annotations

import pytest
from obs.agent._otlp.metrics import encode_metrics
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics as sdk_encode_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics._internal.instrument import Gauge
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def _decoded(payload: bytes) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest.FromString(payload)


def _record_everything(provider: MeterProvider) -> None:
    """Every instrument kind, int and float values (negative and zero too), attributes of every type, two
    scopes (one with version, schema and attributes), exemplars from a sampled span."""
    meter = provider.get_meter("lib.a", "1.0", schema_url="https://schema/s", attributes={"x": 1})
    other = provider.get_meter("lib.b")
    attributes = {"s": "é", "i": -5, "f": 1.5, "b": True, "strs": ("a", "b"), "ints": [1, 2]}
    counter = meter.create_counter("requests", unit="{request}", description="Requests served.")
    counter.add(3, attributes)
    counter.add(0, {"route": "/"})
    meter.create_counter("bytes").add(2.5)
    updown = other.create_up_down_counter("in.flight")
    updown.add(-4, {"k": "v"})
    meter.create_histogram("duration", unit="s").record(0.25, {"route": "/a"})
    meter.create_histogram("duration.explicit", explicit_bucket_boundaries_advisory=[0.0, 1.0]).record(7)
    for value in (3.0, 0.0, 0.001):  # the last one below 1: a negative bucket offset
        meter.create_histogram("exponential").record(value)
    meter.create_gauge("temperature").set(-12, {"room": "a"})
    meter.create_gauge("ratio").set(0.5)

    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(1, {"cpu": "0"}), Observation(2.75, {"cpu": "1"})]

    meter.create_observable_gauge("load", [observe])
    meter.create_observable_counter("cpu.time", [observe], unit="s")
    meter.create_observable_up_down_counter("open.files", [observe])
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    with tracer.start_as_current_span("sampled"):
        counter.add(1, {"in": "span"})
        meter.create_histogram("duration").record(0.5, {"route": "/a"})


def _collect(temporality: AggregationTemporality) -> MetricsData:
    reader = InMemoryMetricReader(preferred_temporality={kind: temporality for kind in _KINDS})
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource({"service.name": "shop", "k": (1, 2)}, schema_url="https://schema/r"),
        views=[View(instrument_name="exponential*", aggregation=ExponentialBucketHistogramAggregation()),
               View(instrument_name="*")],
        shutdown_on_exit=False,
    )
    _record_everything(provider)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


_KINDS: list[type] = [Counter, Gauge, Histogram, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
                      UpDownCounter]


@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])
def test_decodes_to_what_the_sdk_encoder_builds(temporality: AggregationTemporality) -> None:
    """Every kind of metric (sum, gauge, histogram, exponential histogram), every point field, both scopes
    and the resource come out as the SDK encoder writes them."""
    data = _collect(temporality)
    names = {metric.name for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics}
    assert {"requests", "in.flight", "duration", "exponential", "temperature", "load", "cpu.time"} <= names
    expected = sdk_encode_metrics(data)
    assert any(point.exemplars for rm in expected.resource_metrics for sm in rm.scope_metrics
               for metric in sm.metrics for point in metric.sum.data_points)
    assert _decoded(encode_metrics(data)) == expected


def test_an_empty_collection_is_an_empty_request() -> None:
    assert encode_metrics(MetricsData(resource_metrics=[])) == b""
