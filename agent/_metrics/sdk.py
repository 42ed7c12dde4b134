"""Metrics: the meter provider, a fork-safe periodic reader, the exporter, and histogram views taken from the
catalog. Loaded when the metrics SDK is built (:mod:`obs.agent._metrics.lazy_sdk`).

Every duration histogram in :mod:`obs.agent.catalog` gets the catalog's bucket bounds, whatever an
instrumentation advises, so the dashboards' ``histogram_quantile`` always sees the same ``le`` labels; the
catalog's :data:`~obs.agent.catalog.DROPPED_INSTRUMENTS` are neither aggregated nor exported.
Metrics are never sampled: the RED figures stay exact at any trace sampling ratio.

Why not the SDK's PeriodicExportingMetricReader: when a process forks while its thread is collecting or
exporting (gunicorn ``--preload`` forks workers while the master's first export runs), the child inherits
its locks held and never exports again (seen in this project's worker tests). Here a fork waits until a
collection in progress is done (the request path's instrument locks are then free), and the child starts
its own thread with fresh locks; the export itself may be in flight, it takes no SDK lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from obs.agent import catalog
from obs.agent._compat import exporter_preferences, memoize_attribute_hashing, suppress_instrumentation
from obs.agent._export import losses
from obs.agent._export.destination import Destination
from obs.agent._otlp.metrics import encode_metrics, point_count
from obs.agent._support.fork import METRICS, at_fork_weakly
from obs.agent._support.greenlets import join_quietly, register, threads_wait_after_fork
from obs.agent._support.report import error_once
from obs.agent._support.threads import start
from opentelemetry.metrics import Counter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricReader, MetricsData
from opentelemetry.sdk.metrics.view import DropAggregation, ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

__all__ = ["MetricExporterToDestination", "PeriodicReader", "build_meter_provider", "catalog_views"]

_FORK_WAIT_S = 2.0
"""How long a fork waits for a collection in progress (collections take milliseconds)."""
_LAST_COLLECTION_MIN_MS = 20.0
"""At shutdown, less time than this left: no last collection (it could not be exported anyway)."""


def catalog_views(dropped: Sequence[str] = catalog.DROPPED_INSTRUMENTS) -> list[View]:
    """One view per catalog histogram in seconds (the catalog's bucket bounds), and one that drops each
    instrument of ``dropped``: those nothing reads (:data:`obs.agent.catalog.DROPPED_INSTRUMENTS`)."""
    buckets = [
        View(
            instrument_name=instrument.name,
            aggregation=ExplicitBucketHistogramAggregation(catalog.LATENCY_BUCKETS_SECONDS),
        )
        for instrument in catalog.CATALOG
        if instrument.kind is catalog.Kind.HISTOGRAM and instrument.unit == "s"
    ]
    return [*buckets, *(View(instrument_name=name, aggregation=DropAggregation())
                        for name in dropped)]


class PeriodicReader(MetricReader):
    """Collects every ``interval_ms`` on its own thread and hands the data to the exporter."""

    def __init__(self, exporter: MetricExporterToDestination, interval_ms: int, timeout_ms: float = 10_000
                 ) -> None:
        temporality, aggregation = exporter_preferences(exporter)
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self._exporter = exporter
        self._interval_s = interval_ms / 1000.0
        self._timeout_ms = timeout_ms
        self._closed = False
        self._thread: threading.Thread | None = None
        self._fresh_state()
        self._start()
        register(self)
        at_fork_weakly(METRICS, self, before="_before_fork", after_in_parent="_after_fork_in_parent",
                       after_in_child="_after_fork_in_child")

    def _fresh_state(self) -> None:
        self._collecting = threading.Lock()
        self._exporting = threading.Lock()
        self._stop = threading.Event()
        self._local = threading.local()
        self._held_for_fork = False

    def _start(self) -> None:
        """The periodic thread; none where the exiting interpreter refuses it (a reader built at exit only
        has its last collection to do, which :meth:`shutdown` does on the calling thread)."""
        self._thread = threading.Thread(target=self._run, name="obs-metrics-export", daemon=True)
        start(self._thread)

    def _run(self) -> None:
        suppress_instrumentation()
        stop = self._stop
        while not stop.wait(self._interval_s):
            self._collect_once(self._timeout_ms)

    def _collect_once(self, timeout_ms: float) -> None:
        """Collect (holding the lock a fork waits for) and export (without it). A collection still running
        on another thread is waited for at most ``timeout_ms``, then this one is skipped: one that never
        ends (a stuck callback, a lock no live thread will release) must not hold a flush or the exit."""
        if not self._collecting.acquire(timeout=max(timeout_ms, 0.0) / 1000.0):
            return
        self._local.holding = True
        try:
            self.collect(timeout_millis=timeout_ms)
        except Exception as error:
            error_once("collecting metrics", error)
        finally:
            self._release_collecting()

    def _release_collecting(self) -> None:
        if getattr(self._local, "holding", False):
            self._local.holding = False
            self._collecting.release()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._release_collecting()
        if not self._exporting.acquire(timeout=max(timeout_millis, 0.0) / 1000.0):
            # the previous export still waits for the endpoint past this one's time: this collection is lost
            self._exporter.count_dropped(point_count(metrics_data), losses.NOT_ANSWERING)
            return
        try:
            self._exporter.export(metrics_data, timeout_millis=timeout_millis)
        finally:
            self._exporting.release()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        self._collect_once(timeout_millis)
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """One last collection and export on the calling thread, within ``timeout_millis``."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        deadline = time.monotonic() + timeout_millis / 1000.0
        if timeout_millis >= _LAST_COLLECTION_MIN_MS:
            self._collect_once(timeout_millis)
        self._exporter.shutdown(timeout_millis=max(deadline - time.monotonic(), 0.0) * 1000.0)

    def _before_fork(self) -> None:
        self._held_for_fork = self._collecting.acquire(timeout=_FORK_WAIT_S)

    def _after_fork_in_parent(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._collecting.release()

    def _after_fork_in_child(self) -> None:
        self._fresh_state()
        self._thread = None
        if not self._closed and not threads_wait_after_fork():
            self._start()

    def pause_for_patching(self) -> None:
        self._stop.set()
        join_quietly(self._thread)

    def resume_after_patching(self) -> None:
        """New locks (gevent's), and the collection thread again (a greenlet now)."""
        self._fresh_state()
        if not self._closed:
            self._start()


def build_meter_provider(resource: Resource, readers: Sequence[MetricReader]) -> MeterProvider:
    """A provider with the catalog's views; ``readers`` collect from it. Its records hash each distinct
    attribute set once (:func:`obs.agent._compat.memoize_attribute_hashing`)."""
    memoize_attribute_hashing()
    return MeterProvider(
        metric_readers=list(readers), resource=resource, views=catalog_views(), shutdown_on_exit=False
    )


class MetricExporterToDestination(MetricExporter):
    """The SDK metric exporter interface (cumulative temporality, default aggregations), encoding straight
    to protobuf bytes (:mod:`obs.agent._otlp.metrics`).

    The data points of an export that fails are counted in ``obs.metrics.dropped`` by reason (as spans and
    log records are in theirs), once :meth:`count_drops_with` gave it the counter: values being cumulative,
    the next export that succeeds carries the totals again, and the counter with them."""

    def __init__(self, destination: Destination) -> None:
        super().__init__()
        self.destination = destination
        self._dropped: Counter | None = None

    def count_drops_with(self, counter: Counter) -> None:
        self._dropped = counter

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        destination = self.destination
        delivered = destination.deliver(encode_metrics(metrics_data), timeout_millis / 1000.0)
        destination.unexported_points = 0 if delivered else point_count(metrics_data)
        destination.skipped_at_exit = False
        if not delivered:
            self.count_dropped(destination.unexported_points, destination.last_failure)
        return MetricExportResult.SUCCESS if delivered else MetricExportResult.FAILURE

    def count_dropped(self, points: int, reason: str) -> None:
        """``points`` data points not exported, for ``reason`` (of :mod:`obs.agent._export.losses`)."""
        if points and self._dropped is not None:
            self._dropped.add(points, {"reason": reason})

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.destination.close()
