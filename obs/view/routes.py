"""Per-route request rate, error ratio and latency percentiles.

Counts come from the ``http.server.request.duration`` histogram: metrics are never sampled, so they count
every request. Cumulative series are read at their latest point (minus their last point before ``--since``),
delta series are added up; the workers' series are then summed per route. Percentiles are exact, from the
server spans, when the spans kept cover every request of the route; otherwise they are interpolated within the
histogram's buckets. With no metrics at all, everything comes from the server spans.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from obs.view.model import HistogramPoint, SpanRecord, is_error_status
from obs.view.quantiles import Buckets, exact_quantile

__all__ = ["PERCENTILES", "RouteKey", "RouteStats", "RouteTable", "SpanDurations", "route_key", "task_failed",
           "task_key"]

PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, order=True)
class RouteKey:
    route: str
    method: str

    @property
    def label(self) -> str:
        return f"{self.method} {self.route}"


def route_key(found: Mapping[str, Any]) -> RouteKey:
    """The templated route of a request; requests that matched no route share one line."""
    route = found.get("http.route")
    method = found.get("http.request.method") or found.get("http.method") or "?"
    return RouteKey(str(route) if route else "(no route matched)", str(method))


def task_key(found: Mapping[str, Any]) -> RouteKey:
    """A Celery task's line: its name (the worker's ``celery.task.duration`` series)."""
    return RouteKey(str(found.get("celery.task.name") or "(unnamed task)"), "task")


def task_failed(found: Mapping[str, Any]) -> bool:
    return found.get("celery.task.outcome") == "failure"


@dataclass
class _Tally:
    requests: int = 0
    errors: int = 0
    buckets: Buckets | None = None

    def add(self, count: int, failed: bool, buckets: Buckets) -> None:
        self.requests += count
        self.errors += count if failed else 0
        self.buckets = buckets if self.buckets is None else self.buckets.plus(buckets)


@dataclass(frozen=True)
class RouteStats:
    key: RouteKey
    requests: int
    errors: int
    percentiles: tuple[float | None, ...]
    exact: bool

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass
class SpanDurations:
    """Server span durations (seconds) and error counts per route, collected while reading the traces."""

    durations: dict[RouteKey, array[float]] = field(default_factory=dict)
    errors: dict[RouteKey, int] = field(default_factory=dict)

    def add(self, span: SpanRecord) -> None:
        key = route_key(span.attributes)
        self.durations.setdefault(key, array("d")).append(span.duration_ns / 1e9)
        self.errors[key] = self.errors.get(key, 0) + (1 if is_error_status(span.attributes) else 0)


@dataclass
class RouteTable:
    """Fed histogram points of one metric; answers per-route statistics over the window after ``since_ns``."""

    since_ns: int = 0
    _latest: dict[Any, HistogramPoint] = field(default_factory=dict)
    _baseline: dict[Any, HistogramPoint] = field(default_factory=dict)
    _deltas: list[HistogramPoint] = field(default_factory=list)
    first_ns: int = 0
    last_ns: int = 0
    key: Callable[[Mapping[str, Any]], RouteKey] = route_key
    """What a line is: a route (the HTTP server histogram), or a task (``task_key``)."""
    failed: Callable[[Mapping[str, Any]], bool] = is_error_status

    def add(self, point: HistogramPoint) -> None:
        if not point.cumulative:
            if point.time_ns > self.since_ns:
                self._deltas.append(point)
                self._widen(max(point.start_ns, self.since_ns), point.time_ns)
            return
        stream = point.stream
        if point.time_ns <= self.since_ns:
            before = self._baseline.get(stream)
            if before is None or point.time_ns > before.time_ns:
                self._baseline[stream] = point
            return
        latest = self._latest.get(stream)
        if latest is None or point.time_ns > latest.time_ns:
            self._latest[stream] = point
        self._widen(max(point.start_ns, self.since_ns), point.time_ns)

    def _widen(self, start_ns: int, end_ns: int) -> None:
        self.first_ns = start_ns if not self.first_ns else min(self.first_ns, start_ns)
        self.last_ns = max(self.last_ns, end_ns)

    @property
    def empty(self) -> bool:
        return not self._latest and not self._deltas

    def _tallies(self) -> dict[RouteKey, _Tally]:
        tallies: dict[RouteKey, _Tally] = {}
        for stream, point in self._latest.items():
            buckets = _buckets(point)
            count = point.count
            earlier = self._baseline.get(stream)
            if earlier is not None:
                buckets = buckets.minus(_buckets(earlier))
                count -= earlier.count
            if count > 0:
                tallies.setdefault(self.key(point.attributes), _Tally()).add(
                    count, self.failed(point.attributes), buckets
                )
        for point in self._deltas:
            if point.count > 0:
                tallies.setdefault(self.key(point.attributes), _Tally()).add(
                    point.count, self.failed(point.attributes), _buckets(point)
                )
        return tallies

    def stats(self, spans: SpanDurations) -> list[RouteStats]:
        """One line per route, most requested first; exact percentiles where the spans cover every request."""
        found: list[RouteStats] = []
        for key, tally in self._tallies().items():
            durations = spans.durations.get(key)
            if durations is not None and len(durations) == tally.requests:
                found.append(_from_durations(key, durations, tally.errors))
                continue
            assert tally.buckets is not None
            buckets = tally.buckets
            percentiles = tuple(buckets.quantile(q) for q in PERCENTILES)
            found.append(RouteStats(key, tally.requests, tally.errors, percentiles, False))
        return sorted(found, key=lambda stats: (-stats.requests, stats.key))


def stats_from_spans(spans: SpanDurations) -> list[RouteStats]:
    """Route statistics from server spans alone (no metrics were written)."""
    found = [_from_durations(key, found, spans.errors.get(key, 0)) for key, found in spans.durations.items()]
    return sorted(found, key=lambda stats: (-stats.requests, stats.key))


def _from_durations(key: RouteKey, durations: Iterable[float], errors: int) -> RouteStats:
    ordered = sorted(durations)
    return RouteStats(key, len(ordered), errors, tuple(exact_quantile(ordered, q) for q in PERCENTILES), True)


def _buckets(point: HistogramPoint) -> Buckets:
    return Buckets(point.bounds, point.bucket_counts, point.min, point.max)
