"""Plain records pulled out of the OTLP requests: spans, log entries and histogram points.

The rest of the view works on these, never on protobuf messages, so it can be tested with plain values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from obs.view.otlpjson import any_value, attributes

__all__ = [
    "KIND_NAMES",
    "HistogramPoint",
    "LogEntry",
    "Origin",
    "SpanEvent",
    "SpanRecord",
    "gauge_points",
    "histogram_points",
    "is_error_status",
    "log_entries",
    "spans",
    "sum_points",
    "sum_series",
]

SERVER: Final = Span.SpanKind.SPAN_KIND_SERVER
KIND_NAMES: Final[dict[int, str]] = {
    Span.SpanKind.SPAN_KIND_INTERNAL: "internal",
    Span.SpanKind.SPAN_KIND_SERVER: "server",
    Span.SpanKind.SPAN_KIND_CLIENT: "client",
    Span.SpanKind.SPAN_KIND_PRODUCER: "producer",
    Span.SpanKind.SPAN_KIND_CONSUMER: "consumer",
}
_CUMULATIVE: Final = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_SEVERITY_NAMES: Final = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


@dataclass(frozen=True, slots=True)
class Origin:
    """Which process sent a record: service.name and service.instance.id of its resource."""

    service: str
    instance: str


def _origin(resource: Resource) -> Origin:
    found = attributes(resource.attributes)
    service = found.get("service.name", "unknown_service")
    return Origin(str(service), str(found.get("service.instance.id", "")))


def is_error_status(found: Mapping[str, Any]) -> bool:
    """A server request counts as an error when it answered 5xx or the instrumentation set ``error.type``
    (stable HTTP conventions); a 4xx is the client's mistake, not the server's."""
    status = found.get("http.response.status_code")
    if isinstance(status, int) and status >= 500:
        return True
    return "error.type" in found and not (isinstance(status, int) and status < 500)


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    origin: Origin
    attributes: Mapping[str, Any]
    events: tuple[SpanEvent, ...]

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_server(self) -> bool:
        return self.kind == SERVER

    @property
    def failed(self) -> bool:
        """A server span fails with a 5xx or an exception, never with a 4xx (even one an instrumentation
        marked as an error): as the agent, the dashboards and the alert rules count failures. Any other span
        fails when its status says so."""
        error = self.status_code == Status.StatusCode.STATUS_CODE_ERROR
        if not self.is_server:
            return error
        status = self.attributes.get("http.response.status_code")
        if isinstance(status, int) and status < 500:
            return False
        return error or is_error_status(self.attributes)


def spans(request: ExportTraceServiceRequest) -> Iterator[SpanRecord]:
    for resource_spans in request.resource_spans:
        origin = _origin(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield SpanRecord(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex(),
                    name=span.name,
                    kind=span.kind,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    status_code=span.status.code,
                    status_message=span.status.message,
                    origin=origin,
                    attributes=attributes(span.attributes),
                    events=tuple(
                        SpanEvent(event.name, event.time_unix_nano, attributes(event.attributes))
                        for event in span.events
                    ),
                )


@dataclass(frozen=True, slots=True)
class LogEntry:
    time_ns: int
    severity: str
    body: str
    trace_id: str
    span_id: str
    origin: Origin
    attributes: Mapping[str, Any]


def _severity(text: str, number: int) -> str:
    if text:
        return text.upper()
    if 1 <= number <= 24:
        return _SEVERITY_NAMES[(number - 1) // 4]
    return "-"


def log_entries(request: ExportLogsServiceRequest) -> Iterator[LogEntry]:
    for resource_logs in request.resource_logs:
        origin = _origin(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                body = any_value(record.body)
                yield LogEntry(
                    time_ns=record.time_unix_nano or record.observed_time_unix_nano,
                    severity=_severity(record.severity_text, record.severity_number),
                    body=body if isinstance(body, str) else json.dumps(body, default=str),
                    trace_id=record.trace_id.hex(),
                    span_id=record.span_id.hex(),
                    origin=origin,
                    attributes=attributes(record.attributes),
                )


@dataclass(frozen=True, slots=True)
class HistogramPoint:
    """One explicit-bucket histogram point. ``stream`` tells apart the series a cumulative point continues."""

    origin: Origin
    attributes: Mapping[str, Any]
    start_ns: int
    time_ns: int
    cumulative: bool
    count: int
    sum: float
    bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]
    min: float | None
    max: float | None

    @property
    def stream(self) -> tuple[Origin, tuple[tuple[str, str], ...], int]:
        labels = tuple(sorted((key, repr(value)) for key, value in self.attributes.items()))
        return self.origin, labels, self.start_ns


def _metrics(request: ExportMetricsServiceRequest, name: str, data: str) -> Iterator[tuple[Origin, Metric]]:
    """Every metric called ``name`` whose data is of kind ``data`` ("histogram", "sum"), with its origin."""
    for resource_metrics in request.resource_metrics:
        origin = _origin(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name and metric.WhichOneof("data") == data:
                    yield origin, metric


def histogram_points(request: ExportMetricsServiceRequest, name: str) -> Iterator[HistogramPoint]:
    """The points of the explicit-bucket histogram called ``name``."""
    for origin, metric in _metrics(request, name, "histogram"):
        cumulative = metric.histogram.aggregation_temporality == _CUMULATIVE
        for point in metric.histogram.data_points:
            yield HistogramPoint(
                origin=origin,
                attributes=attributes(point.attributes),
                start_ns=point.start_time_unix_nano,
                time_ns=point.time_unix_nano,
                cumulative=cumulative,
                count=point.count,
                sum=point.sum,
                bounds=tuple(point.explicit_bounds),
                bucket_counts=tuple(point.bucket_counts),
                min=point.min if point.HasField("min") else None,
                max=point.max if point.HasField("max") else None,
            )


def sum_points(
    request: ExportMetricsServiceRequest, name: str
) -> Iterator[tuple[Origin, int, bool, float, tuple[tuple[str, str], ...]]]:
    """(origin, start, cumulative, value, series) of each point of the counter called ``name``; ``series``
    tells its attributes apart (obs's drop counters have one series per ``reason``)."""
    for origin, metric in _metrics(request, name, "sum"):
        cumulative = metric.sum.aggregation_temporality == _CUMULATIVE
        for point in metric.sum.data_points:
            value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
            series = tuple(sorted((item.key, str(item.value).strip()) for item in point.attributes))
            yield origin, point.start_time_unix_nano, cumulative, float(value), series


def sum_series(
    request: ExportMetricsServiceRequest, name: str
) -> Iterator[tuple[Origin, Mapping[str, Any], int, int, bool, float]]:
    """(origin, attributes, start, time, cumulative, value) of each point of the counter called ``name``."""
    for origin, metric in _metrics(request, name, "sum"):
        cumulative = metric.sum.aggregation_temporality == _CUMULATIVE
        for point in metric.sum.data_points:
            value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
            yield (origin, attributes(point.attributes), point.start_time_unix_nano, point.time_unix_nano,
                   cumulative, float(value))


def gauge_points(
    request: ExportMetricsServiceRequest, name: str
) -> Iterator[tuple[Origin, Mapping[str, Any], float]]:
    """(origin, attributes, value) of each point of the gauge called ``name``."""
    for origin, metric in _metrics(request, name, "gauge"):
        for point in metric.gauge.data_points:
            value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
            yield origin, attributes(point.attributes), float(value)
