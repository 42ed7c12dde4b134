"""pytest plugin for users of obs: the ``obs_capture`` fixture captures spans, metrics and logs in memory.

Registered through the ``pytest11`` entry point, so it is there as soon as obs is installed; it starts nothing
until a test asks for the fixture. The fixture starts the real agent (same instrumentations, same log bridge,
same resource) with the SDK's in-memory exporter and reader instead of OTLP, once per test session, and gives
each test an empty view::

    def test_checkout(obs_capture, client):
        client.post("/checkout")
        (span,) = obs_capture.spans(kind=SpanKind.SERVER)
        assert span.attributes["http.route"] == "/checkout"
        assert obs_capture.histogram_count("http.server.request.duration") == 1
        assert any(record.body == "order placed" for record in obs_capture.logs())

Libraries are instrumented when they are imported after the agent starts (Flask's and FastAPI's app class
is patched then): build the app inside the test or a fixture, or set ``obs_instrument = true`` in the pytest
configuration to start the agent before the test modules are imported. Process metrics are off here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

__all__ = ["Capture", "MetricPoint", "obs_capture"]

_FLUSH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class MetricPoint:
    """One data point: ``value`` for sums and gauges, ``count``/``sum``/``buckets`` for histograms."""

    name: str
    unit: str
    attributes: dict[str, Any]
    value: float = 0.0
    count: int = 0
    sum: float = 0.0
    buckets: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()


@dataclass
class Capture:
    """What the agent recorded since the test began (see the module docstring)."""

    span_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    log_exporter: InMemoryLogRecordExporter
    _points: list[MetricPoint] = field(default_factory=list)

    def clear(self) -> None:
        """Forget everything recorded so far (the fixture does this before each test)."""
        self.flush()
        self.span_exporter.clear()
        self.log_exporter.clear()
        self._collect()
        self._points.clear()

    def flush(self) -> None:
        """Wait until the spans and logs recorded so far are in memory (logs travel through a queue)."""
        from obs.agent._lifecycle import flush

        flush(_FLUSH_TIMEOUT_S, metrics=False)

    def spans(self, name: str | None = None, kind: SpanKind | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally only those with ``name`` and/or ``kind``."""
        return [
            span for span in self.span_exporter.get_finished_spans()
            if (name is None or span.name == name) and (kind is None or span.kind == kind)
        ]

    def logs(self) -> list[ReadableLogRecord]:
        """Log records from stdlib logging and loguru, oldest first."""
        self.flush()
        return list(self.log_exporter.get_finished_logs())

    def metrics(self, name: str | None = None) -> list[MetricPoint]:
        """Every data point recorded since the test began (delta temporality: one point per collection)."""
        self._points.extend(self._collect())
        return [point for point in self._points if name is None or point.name == name]

    def histogram_count(self, name: str, **attributes: Any) -> int:
        """How many measurements histogram ``name`` took, over the points whose attributes include these."""
        return sum(point.count for point in self.metrics(name) if _matches(point, attributes))

    def counter_value(self, name: str, **attributes: Any) -> float:
        """The sum of counter ``name`` over the points whose attributes include these."""
        return sum(point.value for point in self.metrics(name) if _matches(point, attributes))

    def _collect(self) -> list[MetricPoint]:
        data = self.metric_reader.get_metrics_data()
        points: list[MetricPoint] = []
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points.extend(_flatten(metric))
        return points


def _matches(point: MetricPoint, attributes: dict[str, Any]) -> bool:
    return all(point.attributes.get(key) == value for key, value in attributes.items())


def _flatten(metric: Any) -> list[MetricPoint]:
    points = []
    for point in metric.data.data_points:
        common: dict[str, Any] = {
            "name": metric.name, "unit": metric.unit, "attributes": dict(point.attributes),
        }
        if hasattr(point, "bucket_counts"):
            points.append(MetricPoint(count=point.count, sum=point.sum, buckets=tuple(point.bucket_counts),
                                      bounds=tuple(point.explicit_bounds), **common))
        else:
            points.append(MetricPoint(value=float(point.value), **common))
    return points


_session: Capture | None = None


def _start() -> Capture:
    """Start the agent with in-memory outputs, once per process."""
    global _session
    if _session is not None:
        return _session
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, UpDownCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from obs.agent import _lifecycle
    from obs.agent._pipeline import Outputs

    if _lifecycle.phase() not in ("off", "armed"):
        raise pytest.UsageError(
            f"obs_capture: the obs agent is already {_lifecycle.phase()} in this process (obs run, "
            "obs.init() or OTEL_SDK_DISABLED); run pytest without them to capture telemetry in memory"
        )
    delta = AggregationTemporality.DELTA
    capture = Capture(
        span_exporter=InMemorySpanExporter(),
        metric_reader=InMemoryMetricReader(
            preferred_temporality={
                Counter: delta, Histogram: delta, ObservableCounter: delta, UpDownCounter: delta,
            }
        ),
        log_exporter=InMemoryLogRecordExporter(),  # type: ignore[no-untyped-call]
    )
    outputs = Outputs(
        span_processor=SimpleSpanProcessor(capture.span_exporter),
        metric_readers=[capture.metric_reader],
        log_exporter=capture.log_exporter,
    )
    # every span sampled: a test asserts on the spans of the requests it made
    overrides = {"runtime_metrics": False, "traces_sampler": "parentbased_always_on"}
    if not _lifecycle.start(overrides, outputs=outputs):
        raise pytest.UsageError(f"obs_capture: the obs agent did not start: {_lifecycle.problem()}")
    _session = capture
    return capture


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("obs_instrument", type="bool", default=False,
                  help="obs: start the agent (in memory) before test modules are imported")


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("obs_instrument"):
        _start()


@pytest.fixture
def obs_capture() -> Iterator[Capture]:
    """Spans, metrics and logs recorded during the test, in memory (see :mod:`obs.testing`)."""
    capture = _start()
    capture.clear()
    yield capture

