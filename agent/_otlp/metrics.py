"""OTLP protobuf encoding of collected metrics, straight to bytes.

Why: the SDK's encoder (``encode_metrics``) needs protobuf, a costly import; a process that
exports over OTLP/HTTP otherwise pays it at its first metric export, which for a short-lived one is at exit.
Writing the wire format directly also builds no message objects on the metrics thread. The output decodes to
the same ExportMetricsServiceRequest the SDK builds (tests/test_agent_otlp_metrics.py compares them).

Wire format reference: opentelemetry/proto/metrics/v1/metrics.proto; scalar fields at their zero value are
left out (proto3), ``optional`` ones and the ``as_int``/``as_double`` choice are written whenever set.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from obs.agent._otlp.wire import (
    DOUBLE,
    FIXED64,
    SFIXED64,
    field,
    repeated_key_values,
    resource_message,
    scope_message,
    varint,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData

__all__ = ["Gauge", "Histogram", "Sum", "encode_metrics", "point_count"]



class Gauge(SimpleNamespace):
    """``data_points``: encoded as the SDK's ``Gauge`` (plain data, for a process without the SDK)."""


class Histogram(SimpleNamespace):
    """``data_points``, ``aggregation_temporality``: encoded as the SDK's ``Histogram``."""


class Sum(SimpleNamespace):
    """``data_points``, ``aggregation_temporality``, ``is_monotonic``: encoded as the SDK's ``Sum``."""


def encode_metrics(data: MetricsData) -> bytes:
    """The serialized ExportMetricsServiceRequest for ``data``: the SDK's, or objects shaped like it (the kind
    of a metric's data is told by its class name, as :class:`Gauge`, :class:`Histogram` and :class:`Sum` here
    are named: this module imports no SDK, so that :mod:`obs.agent._metrics.without_sdk` can use it in a
    process that never loaded the metrics SDK)."""
    parts = []
    for resource_metrics in data.resource_metrics:
        resource = resource_metrics.resource
        body = [field(0x0A, resource_message(resource))]
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope
            scope_body = [field(0x0A, scope_message(scope))]
            scope_body.extend(field(0x12, _metric(metric)) for metric in scope_metrics.metrics)
            if scope.schema_url:
                scope_body.append(field(0x1A, scope.schema_url.encode()))
            body.append(field(0x12, b"".join(scope_body)))
        if resource.schema_url:
            body.append(field(0x1A, resource.schema_url.encode()))
        parts.append(field(0x0A, b"".join(body)))
    return b"".join(parts)


def point_count(data: MetricsData) -> int:
    """How many data points ``data`` holds (the SDK's MetricsData, or the plain one of the same shape)."""
    return sum(len(metric.data.data_points) for resource_metrics in data.resource_metrics
               for scope_metrics in resource_metrics.scope_metrics for metric in scope_metrics.metrics)


def _string(tag: int, text: str) -> bytes:
    return field(tag, text.encode("utf-8", "replace")) if text else b""


def _metric(metric: Any) -> bytes:
    """A Metric message: name, description, unit, then its data (left out when it has no points)."""
    head = _string(0x0A, metric.name) + _string(0x12, metric.description) + _string(0x1A, metric.unit)
    data = metric.data
    points = data.data_points
    if not points:
        return head
    kind = type(data).__name__
    if kind == "Gauge":
        return head + field(0x2A, b"".join(field(0x0A, _number(point, False)) for point in points))
    if kind == "Sum":
        body = b"".join(field(0x0A, _number(point, True)) for point in points)
        body += _enum(0x10, data.aggregation_temporality) + (b"\x18\x01" if data.is_monotonic else b"")
        return head + field(0x3A, body)
    if kind == "Histogram":
        body = b"".join(field(0x0A, _histogram_point(point)) for point in points)
        return head + field(0x4A, body + _enum(0x10, data.aggregation_temporality))
    if kind == "ExponentialHistogram":
        body = b"".join(field(0x0A, _exponential_point(point)) for point in points)
        return head + field(0x52, body + _enum(0x10, data.aggregation_temporality))
    return head  # the SDK encoder skips an unknown kind of data too


def _enum(tag: int, value: Any) -> bytes:
    number = int(value)
    return bytes((tag,)) + varint(number) if number else b""


def _fixed64(tag: int, value: int) -> bytes:
    return bytes((tag,)) + FIXED64(value) if value else b""


def _optional_double(tag: int, value: float | None) -> bytes:
    return b"" if value is None else bytes((tag,)) + DOUBLE(value)


def _zigzag(value: int) -> bytes:
    """A sint32 as protobuf writes it."""
    return varint(((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def _number(point: Any, with_start: bool) -> bytes:
    """A NumberDataPoint (a gauge's has no start time, as the SDK encodes it)."""
    parts = [_fixed64(0x11, point.start_time_unix_nano) if with_start else b"",
             _fixed64(0x19, point.time_unix_nano)]
    value = point.value
    if isinstance(value, int):
        parts.append(b"\x31" + SFIXED64(value))
    else:
        parts.append(b"\x21" + DOUBLE(value))
    parts.append(_exemplars(0x2A, point.exemplars))
    parts.append(repeated_key_values(0x3A, point.attributes))
    return b"".join(parts)


def _histogram_point(point: Any) -> bytes:
    parts = [
        _fixed64(0x11, point.start_time_unix_nano),
        _fixed64(0x19, point.time_unix_nano),
        _fixed64(0x21, point.count),
        _optional_double(0x29, point.sum),
    ]
    if point.bucket_counts:
        parts.append(field(0x32, b"".join(FIXED64(count) for count in point.bucket_counts)))
    if point.explicit_bounds:
        parts.append(field(0x3A, b"".join(DOUBLE(bound) for bound in point.explicit_bounds)))
    parts.append(_exemplars(0x42, point.exemplars))
    parts.append(repeated_key_values(0x4A, point.attributes))
    parts.append(_optional_double(0x59, point.min))
    parts.append(_optional_double(0x61, point.max))
    return b"".join(parts)


def _buckets(tag: int, buckets: Any) -> bytes:
    """Positive or negative buckets, left out when empty (as the SDK encodes them)."""
    counts = buckets.bucket_counts
    if not counts:
        return b""
    body = (b"\x08" + _zigzag(buckets.offset) if buckets.offset else b"")
    body += field(0x12, b"".join(varint(count) for count in counts))
    return field(tag, body)


def _exponential_point(point: Any) -> bytes:
    parts = [
        repeated_key_values(0x0A, point.attributes),
        _fixed64(0x11, point.start_time_unix_nano),
        _fixed64(0x19, point.time_unix_nano),
        _fixed64(0x21, point.count),
        _optional_double(0x29, point.sum),
        b"\x30" + _zigzag(point.scale) if point.scale else b"",
        _fixed64(0x39, point.zero_count),
        _buckets(0x42, point.positive),
        _buckets(0x4A, point.negative),
        b"\x50" + varint(point.flags) if point.flags else b"",
        _exemplars(0x5A, point.exemplars),
        _optional_double(0x61, point.min),
        _optional_double(0x69, point.max),
    ]
    return b"".join(parts)


def _exemplars(tag: int, exemplars: Sequence[Any]) -> bytes:
    parts = []
    for exemplar in exemplars:
        body = [_fixed64(0x11, exemplar.time_unix_nano)]
        value = exemplar.value
        if isinstance(value, float):
            body.append(b"\x19" + DOUBLE(value))
        elif isinstance(value, int):
            body.append(b"\x31" + SFIXED64(value))
        else:
            raise ValueError("Exemplar value must be an int or float")
        if exemplar.span_id is not None and exemplar.trace_id is not None:
            body.append(b"\x22\x08" + exemplar.span_id.to_bytes(8, "big"))
            body.append(b"\x2a\x10" + exemplar.trace_id.to_bytes(16, "big"))
        body.append(repeated_key_values(0x3A, exemplar.filtered_attributes))
        parts.append(field(tag, b"".join(body)))
    return b"".join(parts)
