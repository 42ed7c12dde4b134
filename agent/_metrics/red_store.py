"""HTTP server RED metrics kept in plain dicts; :mod:`obs.agent._metrics.red_data` hands them to the metric
readers as SDK data at collection. This module imports nothing of the metrics SDK: requests are counted from
the first one, whether or not the SDK was built yet (:mod:`obs.agent._metrics.lazy_sdk`).

Why not SDK instruments: a histogram ``record`` plus two up-down-counter ``add`` calls hash attribute sets
into frozensets and take one lock per instrument and aggregation, for every request; here a request costs
one ``bisect`` and a few integer updates under one lock (``python -m bench.micro`` compares them).
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

from obs.agent import catalog
from obs.agent._support.fork import STATE, at_fork_weakly

__all__ = ["BOUNDS", "ActiveKey", "RequestKey", "Series", "ServerRequests", "server_requests"]

RequestKey = tuple[str, str, str, int | None, str | None, str | None]
"""``(method, scheme, protocol version, status code, route, error type)`` of one duration series."""
ActiveKey = tuple[str, str]
"""``(method, scheme)`` of one in-flight series."""

BOUNDS = catalog.LATENCY_BUCKETS_SECONDS


class Series:
    """One duration series: bucket counts, sum, count, min, max, and the latest exemplar per bucket."""

    __slots__ = ("buckets", "count", "exemplars", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BOUNDS) + 1)
        self.count = 0
        self.total = 0.0
        self.minimum = float("inf")
        self.maximum = float("-inf")
        self.exemplars: dict[int, tuple[float, int, int, int]] = {}

    def copy(self) -> Series:
        twin = Series()
        twin.buckets = list(self.buckets)
        twin.count, twin.total = self.count, self.total
        twin.minimum, twin.maximum = self.minimum, self.maximum
        return twin


class ServerRequests:
    """The process's HTTP server requests: in flight by ``ActiveKey``, finished by ``RequestKey``."""

    def __init__(self) -> None:
        self._fresh()
        at_fork_weakly(STATE, self, after_in_child="_fresh")

    def _fresh(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[RequestKey, Series] = {}
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
        index = bisect_left(BOUNDS, seconds)
        with self._lock:
            self._active[active] = self._active.get(active, 0) - 1
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series()
            series.buckets[index] += 1
            series.count += 1
            series.total += seconds
            if seconds < series.minimum:
                series.minimum = seconds
            if seconds > series.maximum:
                series.maximum = seconds
            if exemplar is not None:
                series.exemplars[index] = (seconds, time.time_ns(), exemplar[0], exemplar[1])

    def snapshot(self) -> tuple[int, dict[RequestKey, Series], dict[ActiveKey, int]]:
        """``(generation, copies of the series, in-flight counts)``; exemplars move to the copies."""
        with self._lock:
            series: dict[RequestKey, Series] = {}
            for key, live in self._series.items():
                twin = series[key] = live.copy()
                twin.exemplars, live.exemplars = live.exemplars, {}
            return self.generation, series, dict(self._active)


_process_requests = ServerRequests()


def server_requests() -> ServerRequests:
    """The process's one store (the server middlewares write to it, every reader reads it)."""
    return _process_requests


