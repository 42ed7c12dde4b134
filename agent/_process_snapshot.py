"""The process metrics of a process that never built the metrics SDK, encoded straight to OTLP at its end.

Why: :mod:`obs.agent._meters` builds the SDK only when something needs it, and a script that logs and ends
does not. Its memory, CPU and GC figures still reach the dashboards: the same readings the SDK's observable
instruments would have collected (:class:`obs.agent._process_metrics.ProcessMetrics`), as the same kinds of
data (cumulative sums, monotonic or not, and gauges), encoded by :mod:`obs.agent._otlp_metrics` from plain
objects shaped like the SDK's data classes (the encoder tells a ``Sum`` from a ``Gauge`` by class name).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from obs.agent import catalog
from obs.agent._otlp_metrics import encode_metrics
from obs.agent._process_metrics import SCOPE, ProcessMetrics
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["process_metrics_request"]

_CUMULATIVE = 2
"""``AggregationTemporality.CUMULATIVE``, as the SDK exports observable instruments over OTLP."""


class Sum(SimpleNamespace):
    """``data_points``, ``aggregation_temporality``, ``is_monotonic``: as the SDK's ``Sum``."""


class Gauge(SimpleNamespace):
    """``data_points``: as the SDK's ``Gauge``."""


def process_metrics_request(resource: Resource, start_time_ns: int) -> bytes:
    """A serialized ExportMetricsServiceRequest of this process's metrics now, cumulative from
    ``start_time_ns``."""
    now = time.time_ns()
    metrics: list[SimpleNamespace] = []
    for instrument, callback in ProcessMetrics().readings():
        points = [
            SimpleNamespace(attributes=dict(observation.attributes or {}), start_time_unix_nano=start_time_ns,
                            time_unix_nano=now, value=observation.value, exemplars=())
            for observation in callback(CallbackOptions())
        ]
        if not points:
            continue
        data = (
            Gauge(data_points=points) if instrument.kind is catalog.Kind.OBSERVABLE_GAUGE
            else Sum(data_points=points, aggregation_temporality=_CUMULATIVE,
                     is_monotonic=instrument.kind.monotonic)
        )
        metrics.append(SimpleNamespace(name=instrument.name, description=instrument.description,
                                       unit=instrument.unit, data=data))
    scope = SimpleNamespace(scope=InstrumentationScope(SCOPE), metrics=metrics, schema_url="")
    of_resource = SimpleNamespace(resource=resource, scope_metrics=[scope], schema_url=resource.schema_url)
    return encode_metrics(SimpleNamespace(resource_metrics=[of_resource]))  # type: ignore[arg-type]
