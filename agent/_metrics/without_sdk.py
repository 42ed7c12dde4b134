"""The metrics of a process that never built the metrics SDK, encoded straight to OTLP at its end.

Why: :mod:`obs.agent._metrics.lazy_sdk` builds the SDK only when something needs it, and a script that logs
and ends, or a server that answers a few requests and stops (a test, a health probe), may never need it. What
it recorded still reaches the dashboards without the SDK's import: its process metrics (memory, CPU, GC), from
the same readings the SDK's observable instruments would have collected
(:class:`obs.agent._metrics.process.ProcessMetrics`), and its RED figures from the RED store
(:func:`obs.agent._metrics.red_data.red_metrics_now`), as the same kinds of data (cumulative sums, monotonic
or not, gauges and histograms), encoded by :mod:`obs.agent._otlp.metrics` from plain objects shaped like the
SDK's data classes (the encoder's :class:`~obs.agent._otlp.metrics.Gauge` and the like).
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from obs.agent import catalog
from obs.agent._metrics.process import ProcessMetrics
from obs.agent._metrics.red_data import PLAIN, red_metrics_now
from obs.agent._metrics.red_store import ServerRequests
from obs.agent._otlp.metrics import Gauge, encode_metrics, point_count
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["final_metrics", "final_metrics_request", "process_metrics"]


def process_metrics(start_time_ns: int) -> list[SimpleNamespace]:
    """This process's metrics now, cumulative from ``start_time_ns``."""
    now = time.time_ns()
    metrics: list[SimpleNamespace] = []
    for instrument, callback in ProcessMetrics().readings():
        points = [
            PLAIN.number_point(
                attributes=dict(observation.attributes or {}), start_time_unix_nano=start_time_ns,
                time_unix_nano=now, value=observation.value,
            )
            for observation in callback(CallbackOptions())
        ]
        if not points:
            continue
        data = (
            Gauge(data_points=points) if instrument.kind is catalog.Kind.OBSERVABLE_GAUGE
            else PLAIN.sum(points, PLAIN.cumulative, is_monotonic=instrument.kind.monotonic)
        )
        metrics.append(PLAIN.metric(instrument.name, instrument.description, instrument.unit, data))
    return metrics


def final_metrics_request(
    resource: Resource, start_time_ns: int, *, process: bool, store: ServerRequests | None = None
) -> bytes | None:
    """A serialized ExportMetricsServiceRequest of the RED figures (of ``store``, the process's by default)
    and (``process``) the process metrics; None when there is nothing to send."""
    found = final_metrics(resource, start_time_ns, process=process, store=store)
    return None if found is None else found[0]


def final_metrics(
    resource: Resource, start_time_ns: int, *, process: bool, store: ServerRequests | None = None
) -> tuple[bytes, int] | None:
    """:func:`final_metrics_request`, and how many data points it holds."""
    scopes = [
        SimpleNamespace(scope=InstrumentationScope(name), metrics=metrics, schema_url="")
        for name, metrics in ((catalog.PROCESS_SCOPE, process_metrics(start_time_ns) if process else []),
                              (catalog.SERVER_SCOPE, red_metrics_now(store)))
        if metrics
    ]
    if not scopes:
        return None
    of_resource = SimpleNamespace(resource=resource, scope_metrics=scopes, schema_url=resource.schema_url)
    data: Any = SimpleNamespace(resource_metrics=[of_resource])
    return encode_metrics(data), point_count(data)
