"""Telemetry files for the `obs view` tests, made with the real OpenTelemetry SDK and written as the agent's
file fallback writes them (the Collector file exporter's format: one Export*ServiceRequest per line, protobuf
JSON with lowerCamelCase keys, 64-bit integers as strings, enums as numbers, trace/span ids as hex).

The SDK's in-memory exporters and reader capture what a real app would export; the OTLP encoders of
opentelemetry-exporter-otlp-proto-common turn it into the protobuf messages the agent sends, and the agent's
own line writer puts them on disk. (tests/test_view_otlpjson.py checks the reader against the specification's
example independently of both.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from obs.agent._otlp.json_lines import to_json_line
from obs.agent.catalog import HTTP_SERVER_DURATION, LATENCY_BUCKETS_SECONDS, TASK_DURATION, TASK_QUEUE_WAIT
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.metrics import Histogram
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = ["Child", "Writer"]


@dataclass(frozen=True)
class Child:
    """A span under the server span: ``offset`` and ``seconds`` after the request started."""

    name: str
    offset: float
    seconds: float
    kind: SpanKind = SpanKind.CLIENT
    attributes: dict[str, Any] | None = None


class Writer:
    """One process of one service: make requests, then append what it exported to the telemetry files."""

    def __init__(self, service: str = "shop", instance: str = "instance-1") -> None:
        resource = Resource.create({"service.name": service, "service.instance.id": instance})
        self._spans = InMemorySpanExporter()
        self._tracers = TracerProvider(resource=resource)
        self._tracers.add_span_processor(SimpleSpanProcessor(self._spans))
        self._tracer = self._tracers.get_tracer("tests.telemetry_files")
        self._reader = InMemoryMetricReader()
        self._meters = MeterProvider(resource=resource, metric_readers=[self._reader])
        self._meter = self._meters.get_meter("tests.telemetry_files")
        self._duration = self._meter.create_histogram(
            HTTP_SERVER_DURATION.name, unit="s",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_SECONDS),
        )
        self._task_duration: Histogram | None = None
        self._logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # unannotated in the SDK
        self._loggers = LoggerProvider(resource=resource)
        self._loggers.add_log_record_processor(SimpleLogRecordProcessor(self._logs))
        self._logger = self._loggers.get_logger("tests.telemetry_files")

    def request(
        self,
        route: str,
        status: int,
        seconds: float,
        start_ns: int,
        *,
        method: str = "GET",
        children: Sequence[Child] = (),
        log: str | None = None,
        exception: Exception | None = None,
        traced: bool = True,
    ) -> str:
        """One server request: a span tree (unless ``traced`` is False, as when sampled out), a point in the
        duration histogram, and optionally a log line written inside the request. Returns the trace id."""
        attributes: dict[str, Any] = {
            "http.request.method": method, "http.route": route, "http.response.status_code": status,
        }
        if status >= 500:
            attributes["error.type"] = str(status)
        self._duration.record(seconds, attributes)
        if not traced:
            return ""
        end_ns = start_ns + int(seconds * 1e9)
        span = self._tracer.start_span(
            f"{method} {route}", kind=SpanKind.SERVER, attributes=attributes, start_time=start_ns
        )
        context = trace.set_span_in_context(span)
        for child in children:
            child_span = self._tracer.start_span(
                child.name, context=context, kind=child.kind, attributes=child.attributes or {},
                start_time=start_ns + int(child.offset * 1e9),
            )
            child_span.end(end_time=start_ns + int((child.offset + child.seconds) * 1e9))
        if log is not None:
            self._logger.emit(
                timestamp=start_ns + 1000, context=context, severity_number=SeverityNumber.INFO,
                severity_text="INFO", body=log, attributes={"item_id": 7, "code.line.number": 12},
            )
        if exception is not None:
            span.record_exception(exception, timestamp=end_ns)
            span.set_status(Status(StatusCode.ERROR, str(exception)))
        span.end(end_time=end_ns)
        return format(span.get_span_context().trace_id, "032x")

    def log(self, body: str, time_ns: int, severity: str = "WARN") -> None:
        """A log line written outside any request."""
        self._logger.emit(
            timestamp=time_ns, severity_number=SeverityNumber.WARN, severity_text=severity, body=body
        )

    def task(self, name: str, outcome: str, seconds: float, waited: float | None = None) -> None:
        """One Celery task run, as a worker's agent records it (``celery.task.duration``), and the time it
        waited from publication to start when given (``celery.task.queue_wait``)."""
        if self._task_duration is None:
            self._task_duration = self._meter.create_histogram(
                TASK_DURATION.name, unit="s",
                explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_SECONDS),
            )
            self._task_wait = self._meter.create_histogram(
                TASK_QUEUE_WAIT.name, unit="s",
                explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_SECONDS),
            )
        self._task_duration.record(seconds, {"celery.task.name": name, "celery.task.outcome": outcome})
        if waited is not None:
            self._task_wait.record(waited, {"celery.task.name": name})

    def count(self, name: str, value: int, attributes: dict[str, str] | None = None) -> None:
        """Add to a counter, such as the agent's own ``obs.logs.dropped`` (by ``reason``)."""
        self._meter.create_counter(name).add(value, attributes)

    def gauge(self, name: str, value: float, attributes: dict[str, str], unit: str = "") -> None:
        """An observable gauge reporting ``value``, such as the agent's ``obs.errors.last_seen``."""
        from opentelemetry.metrics import Observation

        observed = [Observation(value, attributes)]
        self._meter.create_observable_gauge(name, [lambda _options: observed], unit=unit)

    def flush(self, directory: Path) -> None:
        """Append one request line per signal that has something, as the exporters would at their interval."""
        directory.mkdir(parents=True, exist_ok=True)
        spans = self._spans.get_finished_spans()
        if spans:
            _append(directory / "traces.jsonl", encode_spans(spans))
            self._spans.clear()
        metrics = self._reader.get_metrics_data()
        if metrics is not None and metrics.resource_metrics:
            _append(directory / "metrics.jsonl", encode_metrics(metrics))
        logs = self._logs.get_finished_logs()
        if logs:
            _append(directory / "logs.jsonl", encode_logs(logs))
            self._logs.clear()

    def close(self) -> None:
        self._tracers.shutdown()
        self._meters.shutdown()
        self._loggers.shutdown()


def _append(path: Path, message: Message) -> None:
    with path.open("ab") as handle:
        handle.write(to_json_line(message))
