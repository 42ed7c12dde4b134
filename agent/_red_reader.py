"""The RED store's figures as SDK metric data, added to each metric reader's collections.

Loaded with the metrics SDK (:mod:`obs.agent._meters`), never at boot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from obs.agent import catalog
from obs.agent._red import BOUNDS, ActiveKey, RequestKey, Series, ServerRequests, server_requests
from obs.agent._report import error_once
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["SCOPE", "attach_to_reader"]

SCOPE = InstrumentationScope("obs.agent.http_server")
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


class _ReaderView:
    """What one reader has seen: its temporality, and for delta the values at its previous collection."""

    def __init__(self, store: ServerRequests, temporality: AggregationTemporality) -> None:
        self._store = store
        self._temporality = temporality
        self._generation = 0
        self._seen: dict[RequestKey, Series] = {}
        self._seen_active: dict[ActiveKey, int] = {}
        self._last_ns = store.start_ns

    def metrics(self) -> list[Metric]:
        generation, series, active = self._store.snapshot()
        now = time.time_ns()
        delta = self._temporality is AggregationTemporality.DELTA
        if generation != self._generation:
            self._generation, self._seen, self._seen_active = generation, {}, {}
            self._last_ns = self._store.start_ns
        start = self._last_ns if delta else self._store.start_ns
        durations = [
            point for key, current in series.items()
            if (point := self._duration_point(key, current, start, now, delta)) is not None
        ]
        actives = [
            NumberDataPoint(attributes={"http.request.method": key[0], "url.scheme": key[1]},
                            start_time_unix_nano=start, time_unix_nano=now,
                            value=value - self._seen_active.get(key, 0) if delta else value)
            for key, value in active.items()
            if not delta or value != self._seen_active.get(key, 0)
        ]
        if delta:
            self._seen, self._seen_active, self._last_ns = series, active, now
        metrics: list[Metric] = []
        if durations:
            metrics.append(Metric(_DURATION.name, _DURATION.description, _DURATION.unit,
                                  Histogram(durations, self._temporality)))
        if actives:
            metrics.append(Metric(_ACTIVE.name, _ACTIVE.description, _ACTIVE.unit,
                                  Sum(actives, self._temporality, is_monotonic=False)))
        return metrics

    def _duration_point(
        self, key: RequestKey, current: Series, start: int, now: int, delta: bool
    ) -> HistogramDataPoint | None:
        from opentelemetry.sdk.metrics import Exemplar

        previous = self._seen.get(key) if delta else None
        count = current.count - (previous.count if previous else 0)
        if delta and count == 0:
            return None
        buckets = current.buckets if previous is None else [
            now - then for now, then in zip(current.buckets, previous.buckets, strict=True)
        ]
        exemplars = [
            Exemplar({}, value, at_ns, span_id=span_id, trace_id=trace_id)
            for value, at_ns, trace_id, span_id in current.exemplars.values()
        ]
        return HistogramDataPoint(
            attributes=_attributes(key), start_time_unix_nano=start, time_unix_nano=now, count=count,
            sum=current.total - (previous.total if previous else 0.0), bucket_counts=buckets,
            explicit_bounds=BOUNDS, min=current.minimum, max=current.maximum, exemplars=exemplars,
        )


def _merged(data: MetricsData | None, metrics: list[Metric], resource: Resource) -> MetricsData | None:
    if not metrics:
        return data
    scope = ScopeMetrics(SCOPE, metrics, "")
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
    collect = getattr(reader, "_collect", None)
    temporality = getattr(reader, "_instrument_class_temporality", {})
    if not callable(collect):
        error_once("adding the HTTP server metrics to a metric reader",
                   TypeError(f"{type(reader).__name__} has no collect callback"))
        return False
    histogram_temporality = next(
        (chosen for kind, chosen in temporality.items() if getattr(kind, "__name__", "") == "_Histogram"),
        AggregationTemporality.CUMULATIVE,
    )  # the reader keys its choices by the SDK's internal instrument classes
    view = _ReaderView(store or server_requests(), histogram_temporality)

    def collect_with_red(target: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        data: MetricsData | None = collect(target, timeout_millis=timeout_millis)
        try:
            return _merged(data, view.metrics(), resource())
        except Exception as error:
            error_once("collecting the HTTP server metrics", error)
            return data

    reader._collect = collect_with_red  # type: ignore[assignment]
    return True
