"""HTTP server RED metrics kept in plain dicts, handed to the metric readers as SDK data at collection.

Why not SDK instruments: a histogram ``record`` plus two up-down-counter ``add`` calls cost about 18 us a
request on this project's 2-core machine (attribute sets hashed into frozensets, one lock per instrument and
aggregation); here a request costs one ``bisect`` and a few integer updates under one lock (under 1 us).
The readers still get exactly what the SDK would give them: ``http.server.request.duration`` as a histogram
with the catalog's bucket bounds and ``http.server.active_requests`` as a non-monotonic sum, with the
catalog's attribute names, in each reader's temporality (cumulative for OTLP, delta where a reader asks),
with trace exemplars from sampled requests. Metrics are never sampled: every request is counted.

Each process counts its own requests: a forked worker starts from zero (its resource has its own pid and
``service.instance.id``, so the workers' series stay apart and sum up in PromQL).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from obs.agent import catalog
from obs.agent._forkhooks import at_fork_weakly
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

__all__ = ["ActiveKey", "RequestKey", "ServerRequests", "attach_to_reader", "server_requests"]

RequestKey = tuple[str, str, str, int | None, str | None, str | None]
"""``(method, scheme, protocol version, status code, route, error type)`` of one duration series."""
ActiveKey = tuple[str, str]
"""``(method, scheme)`` of one in-flight series."""

SCOPE = InstrumentationScope("obs.agent.http_server")
_BOUNDS = catalog.LATENCY_BUCKETS_SECONDS
_DURATION = catalog.HTTP_SERVER_DURATION
_ACTIVE = catalog.HTTP_SERVER_ACTIVE_REQUESTS


class _Series:
    """One duration series: bucket counts, sum, count, min, max, and the latest exemplar per bucket."""

    __slots__ = ("buckets", "count", "exemplars", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_BOUNDS) + 1)
        self.count = 0
        self.total = 0.0
        self.minimum = float("inf")
        self.maximum = float("-inf")
        self.exemplars: dict[int, tuple[float, int, int, int]] = {}

    def copy(self) -> _Series:
        twin = _Series()
        twin.buckets = list(self.buckets)
        twin.count, twin.total = self.count, self.total
        twin.minimum, twin.maximum = self.minimum, self.maximum
        return twin


class ServerRequests:
    """The process's HTTP server requests: in flight by ``ActiveKey``, finished by ``RequestKey``."""

    def __init__(self) -> None:
        self._fresh()
        at_fork_weakly(self, after_in_child="_fresh")

    def _fresh(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[RequestKey, _Series] = {}
        self._active: dict[ActiveKey, int] = {}
        self.start_ns = time.time_ns()
        self.generation = getattr(self, "generation", 0) + 1

    def started(self, key: ActiveKey) -> None:
        with self._lock:
            self._active[key] = self._active.get(key, 0) + 1

    def finished(
        self, active: ActiveKey, key: RequestKey, seconds: float, exemplar: tuple[int, int] | None = None
    ) -> None:
        """One request done: ``exemplar`` is ``(trace_id, span_id)`` of its span when that was sampled."""
        index = bisect_left(_BOUNDS, seconds)
        with self._lock:
            self._active[active] = self._active.get(active, 0) - 1
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.buckets[index] += 1
            series.count += 1
            series.total += seconds
            if seconds < series.minimum:
                series.minimum = seconds
            if seconds > series.maximum:
                series.maximum = seconds
            if exemplar is not None:
                series.exemplars[index] = (seconds, time.time_ns(), exemplar[0], exemplar[1])

    def snapshot(self) -> tuple[int, dict[RequestKey, _Series], dict[ActiveKey, int]]:
        """``(generation, copies of the series, in-flight counts)``; exemplars move to the copies."""
        with self._lock:
            series: dict[RequestKey, _Series] = {}
            for key, live in self._series.items():
                twin = series[key] = live.copy()
                twin.exemplars, live.exemplars = live.exemplars, {}
            return self.generation, series, dict(self._active)


_process_requests = ServerRequests()


def server_requests() -> ServerRequests:
    """The process's one store (the server middlewares write to it, every reader reads it)."""
    return _process_requests


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
        self._seen: dict[RequestKey, _Series] = {}
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
        self, key: RequestKey, current: _Series, start: int, now: int, delta: bool
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
            explicit_bounds=_BOUNDS, min=current.minimum, max=current.maximum, exemplars=exemplars,
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
    view = _ReaderView(store or _process_requests, histogram_temporality)

    def collect_with_red(target: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        data: MetricsData | None = collect(target, timeout_millis=timeout_millis)
        try:
            return _merged(data, view.metrics(), resource())
        except Exception as error:
            error_once("collecting the HTTP server metrics", error)
            return data

    reader._collect = collect_with_red  # type: ignore[assignment]
    return True
