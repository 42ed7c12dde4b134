"""The RED store's figures as metric data: added to each metric reader's collections once the metrics SDK is
built, or encoded without it at the end of a process that never built it (:mod:`obs.agent._metrics.lazy_sdk`).

The same points either way, made by one :class:`_ReaderView`: as the SDK's data classes for its readers, or
as plain objects with the same fields, which :mod:`obs.agent._otlp.metrics` encodes alike. This module
imports nothing of the SDK until a reader is attached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

from obs.agent import catalog
from obs.agent._compat import histogram_temporality, wrap_reader_collect
from obs.agent._metrics.red_store import (
    BOUNDS,
    ActiveKey,
    RequestKey,
    Series,
    ServerRequests,
    server_requests,
)
from obs.agent._otlp.metrics import Histogram, Sum
from obs.agent._support.report import error_once

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader, MetricsData
    from opentelemetry.sdk.resources import Resource

__all__ = ["PLAIN", "Shapes", "attach_to_reader", "red_metrics_now"]

_DURATION = catalog.HTTP_SERVER_DURATION
_ACTIVE = catalog.HTTP_SERVER_ACTIVE_REQUESTS


def _attributes(key: RequestKey) -> dict[str, Any]:
    method, scheme, protocol, status, route, error_type = key
    attributes: dict[str, Any] = {"http.request.method": method, "url.scheme": scheme}
    if protocol:
        attributes["network.protocol.version"] = protocol
    if status is not None:
        attributes["http.response.status_code"] = status
    if route:
        attributes["http.route"] = route
    if error_type:
        attributes["error.type"] = error_type
    return attributes


class Shapes(NamedTuple):
    """How the data is made: the SDK's classes, or plain objects with their fields (:data:`PLAIN`)."""

    metric: Callable[..., Any]
    histogram: Callable[..., Any]
    sum: Callable[..., Any]
    histogram_point: Callable[..., Any]
    number_point: Callable[..., Any]
    exemplar: Callable[..., Any]
    cumulative: Any
    delta: Any


def _plain_exemplar(filtered_attributes: Any, value: float, time_unix_nano: int, span_id: int,
                    trace_id: int) -> SimpleNamespace:
    return SimpleNamespace(filtered_attributes=filtered_attributes, value=value,
                           time_unix_nano=time_unix_nano, span_id=span_id, trace_id=trace_id)


PLAIN = Shapes(
    metric=lambda name, description, unit, data: SimpleNamespace(
        name=name, description=description, unit=unit, data=data),
    histogram=lambda points, temporality: Histogram(data_points=points, aggregation_temporality=temporality),
    sum=lambda points, temporality, is_monotonic: Sum(
        data_points=points, aggregation_temporality=temporality, is_monotonic=is_monotonic),
    histogram_point=SimpleNamespace,
    number_point=lambda **fields: SimpleNamespace(exemplars=(), **fields),
    exemplar=_plain_exemplar,
    cumulative=2,  # AggregationTemporality.CUMULATIVE's value on the wire
    delta=1,
)


def _sdk_shapes() -> Shapes:
    from opentelemetry.sdk.metrics import Exemplar
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        HistogramDataPoint,
        Metric,
        NumberDataPoint,
    )
    from opentelemetry.sdk.metrics.export import Histogram as SdkHistogram
    from opentelemetry.sdk.metrics.export import Sum as SdkSum

    return Shapes(Metric, SdkHistogram, SdkSum, HistogramDataPoint, NumberDataPoint, Exemplar,
                  AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA)


class _ReaderView:
    """What one reader has seen: its temporality, and for delta the values at its previous collection."""

    def __init__(self, store: ServerRequests, delta: bool, shapes: Shapes) -> None:
        self._store = store
        self._shapes = shapes
        self._delta = delta
        self._temporality = shapes.delta if delta else shapes.cumulative
        self._generation = 0
        self._seen: dict[RequestKey, Series] = {}
        self._seen_active: dict[ActiveKey, int] = {}
        self._last_ns = store.start_ns

    def metrics(self) -> list[Any]:
        generation, series, active = self._store.snapshot()
        now = time.time_ns()
        delta, shapes = self._delta, self._shapes
        if generation != self._generation:
            self._generation, self._seen, self._seen_active = generation, {}, {}
            self._last_ns = self._store.start_ns
        start = self._last_ns if delta else self._store.start_ns
        durations = [
            point for key, current in series.items()
            if (point := self._duration_point(key, current, start, now, delta)) is not None
        ]
        actives = [
            shapes.number_point(attributes={"http.request.method": key[0], "url.scheme": key[1]},
                                start_time_unix_nano=start, time_unix_nano=now,
                                value=value - self._seen_active.get(key, 0) if delta else value)
            for key, value in active.items()
            if not delta or value != self._seen_active.get(key, 0)
        ]
        if delta:
            self._seen, self._seen_active, self._last_ns = series, active, now
        metrics: list[Any] = []
        if durations:
            metrics.append(shapes.metric(_DURATION.name, _DURATION.description, _DURATION.unit,
                                         shapes.histogram(durations, self._temporality)))
        if actives:
            metrics.append(shapes.metric(_ACTIVE.name, _ACTIVE.description, _ACTIVE.unit,
                                         shapes.sum(actives, self._temporality, is_monotonic=False)))
        return metrics

    def _duration_point(
        self, key: RequestKey, current: Series, start: int, now: int, delta: bool
    ) -> Any:
        shapes = self._shapes
        previous = self._seen.get(key) if delta else None
        count = current.count - (previous.count if previous else 0)
        if delta and count == 0:
            return None
        buckets = current.buckets if previous is None else [
            now - then for now, then in zip(current.buckets, previous.buckets, strict=True)
        ]
        exemplars = [
            shapes.exemplar({}, value, at_ns, span_id=span_id, trace_id=trace_id)
            for value, at_ns, trace_id, span_id in current.exemplars.values()
        ]
        return shapes.histogram_point(
            attributes=_attributes(key), start_time_unix_nano=start, time_unix_nano=now, count=count,
            sum=current.total - (previous.total if previous else 0.0), bucket_counts=buckets,
            explicit_bounds=BOUNDS, min=current.minimum, max=current.maximum, exemplars=exemplars,
        )


def red_metrics_now(store: ServerRequests | None = None) -> list[Any]:
    """The RED metrics as plain objects, cumulative since the store started: for the end of a process that
    never built the SDK."""
    return _ReaderView(store or server_requests(), False, PLAIN).metrics()


def _merged(data: MetricsData | None, metrics: list[Any], resource: Resource) -> MetricsData | None:
    from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    if not metrics:
        return data
    scope = ScopeMetrics(InstrumentationScope(catalog.SERVER_SCOPE), metrics, "")
    if data is None or not data.resource_metrics:
        return MetricsData([ResourceMetrics(resource, [scope], resource.schema_url)])
    first, *rest = data.resource_metrics
    merged = ResourceMetrics(first.resource, [*first.scope_metrics, scope], first.schema_url)
    return MetricsData([merged, *rest])


def attach_to_reader(
    reader: MetricReader, resource: Callable[[], Resource], store: ServerRequests | None = None
) -> bool:
    """Make ``reader``'s collections carry the RED metrics too. False (said once) if the SDK changed shape.

    The SDK has no public hook for data made outside its instruments (no metric producers in this release),
    so the collect callback the meter provider gave the reader is wrapped.
    """
    shapes = _sdk_shapes()
    view = _ReaderView(store or server_requests(), histogram_temporality(reader) is shapes.delta, shapes)

    def with_red(collect: Callable[..., MetricsData | None]) -> Callable[..., MetricsData | None]:
        def collect_with_red(target: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
            data = collect(target, timeout_millis=timeout_millis)
            try:
                return _merged(data, view.metrics(), resource())
            except Exception as error:
                error_once("collecting the HTTP server metrics", error)
                return data

        return collect_with_red

    if not wrap_reader_collect(reader, with_red):
        error_once("adding the HTTP server metrics to a metric reader",
                   TypeError(f"{type(reader).__name__} has no collect callback"))
        return False
    return True
