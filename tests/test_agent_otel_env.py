"""The OpenTelemetry environment variables the agent honours, each shown over real OTLP.

Receivers: the OTLP/HTTP test receiver (tests/otlp_receiver.py), a small HTTP endpoint that records request
headers, and an OTLP/gRPC server built from the generated service stubs.
"""

from __future__ import annotations

import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.agent_run import clean_environment, python
from tests.otlp_receiver import OTLPReceiver

WORK = """
import logging, time
from opentelemetry import trace
log = logging.getLogger("work")
with trace.get_tracer("work").start_as_current_span("job"):
    log.warning("inside the job")
time.sleep(float(__import__("os").environ.get("WORK_SECONDS", "0.2")))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "env-test"\n')
    return tmp_path


def _to(receiver: OTLPReceiver, **extra: str) -> dict[str, str]:
    """A clean environment exporting to ``receiver``, plus ``extra``."""
    return clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **extra})


class _HeaderEndpoint:
    """Answers every POST with 200 and an empty body (a valid OTLP response), remembering path and headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append((self.path, {key.lower(): value for key, value in self.headers.items()}))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> _HeaderEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _GrpcReceiver:
    """OTLP/gRPC: keeps the requests of the three services."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        requests = self.requests

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                requests.append(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                requests.append(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                requests.append(request)
                return logs_service_pb2.ExportLogsServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> _GrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(0)


def test_per_signal_endpoints(receiver: OTLPReceiver, project: Path) -> None:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT sends spans to its own URL, the others follow the base endpoint."""
    with OTLPReceiver() as traces_only:
        env = clean_environment({
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{traces_only.endpoint}/v1/traces",
        })
        ran = python(WORK, env, project)
        assert ran.returncode == 0, ran.stderr
        assert [span.name for span in traces_only.spans()] == ["job"]
        assert traces_only.metric_points() == [] and traces_only.logs() == []
    assert receiver.spans() == []
    assert receiver.metric_points("process.memory.usage")
    assert [record.body for record in receiver.logs()] == ["inside the job"]


def test_headers_all_signals_and_per_signal(project: Path) -> None:
    """OTEL_EXPORTER_OTLP_HEADERS go with every export; OTEL_EXPORTER_OTLP_TRACES_HEADERS add to spans'."""
    with _HeaderEndpoint() as endpoint:
        env = clean_environment({
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cret,x-team=shop%20floor",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-signal=traces",
        })
        ran = python(WORK, env, project)
        assert ran.returncode == 0, ran.stderr
    by_path = {path: headers for path, headers in endpoint.seen}
    assert set(by_path) == {"/v1/traces", "/v1/metrics", "/v1/logs"}
    for path, headers in by_path.items():
        assert headers["x-api-key"] == "s3cret"
        assert headers["x-team"] == "shop floor"
        assert headers["content-type"] == "application/x-protobuf"
        assert (headers.get("x-signal") == "traces") == (path == "/v1/traces")


def test_grpc_protocol(project: Path) -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports the three signals over gRPC."""
    with _GrpcReceiver() as server:
        env = clean_environment({
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.port}",
        })
        ran = python(WORK, env, project)
        assert ran.returncode == 0, ran.stderr
        kinds = {type(request).__name__ for request in server.requests}
    assert kinds == {"ExportTraceServiceRequest", "ExportMetricsServiceRequest", "ExportLogsServiceRequest"}
    spans = [span.name for request in server.requests if hasattr(request, "resource_spans")
             for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans]
    assert spans == ["job"]


@pytest.mark.serial  # times the run against a bound: alone, not beside another test's load
def test_timeout_bounds_each_export(project: Path) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds): an endpoint that never answers costs each export that long,
    and one line says so; the app's run is not stretched."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        env = clean_environment({
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "200",
            "OTEL_LOGS_EXPORTER": "none",
            "WORK_SECONDS": "1.0",
        })
        ran = python(WORK, env, project)
    assert ran.returncode == 0
    line, counted = ran.obs_lines()
    assert "timed out" in line
    assert counted.startswith("obs: not exported: ") and "endpoint not answering" in counted
    assert ran.seconds < 1.0 + 2.0, "the run takes the app's second plus start-up and the exit budget"


def test_service_name_and_resource_attributes(receiver: OTLPReceiver, project: Path) -> None:
    """OTEL_SERVICE_NAME names the service; OTEL_RESOURCE_ATTRIBUTES adds attributes and may set the
    environment (obs's own default yields to it); each process gets a service.instance.id."""
    env = clean_environment({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "team=payments,deployment.environment.name=staging,service.name=ignored",
    })
    assert python(WORK, env, project).returncode == 0
    (span,) = receiver.spans()
    assert span.resource["service.name"] == "checkout"
    assert span.resource["team"] == "payments"
    assert span.resource["deployment.environment.name"] == "staging"
    assert len(span.resource["service.instance.id"]) == 36
    assert span.resource["process.pid"] > 0


def test_service_name_defaults_to_the_project(receiver: OTLPReceiver, project: Path) -> None:
    """Without OTEL_SERVICE_NAME the service is named after the project in pyproject.toml."""
    assert python(WORK, _to(receiver), project).returncode == 0
    (span,) = receiver.spans()
    assert span.resource["service.name"] == "env-test"
    assert span.resource["deployment.environment.name"] == "development"


def test_metric_export_interval(receiver: OTLPReceiver, project: Path) -> None:
    """OTEL_METRIC_EXPORT_INTERVAL sets how often metrics go out: every 200 ms during a 1.2 s run."""
    env = clean_environment({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "WORK_SECONDS": "1.2",
    })
    assert python(WORK, env, project).returncode == 0
    exports = {point.time_ns for point in receiver.metric_points("process.memory.usage")}
    assert len(exports) >= 4


def test_span_queue_size_and_drops(receiver: OTLPReceiver, project: Path) -> None:
    """OTEL_BSP_MAX_QUEUE_SIZE bounds the span queue: a burst beyond it is dropped, counted in
    obs.spans.dropped and said in one line at exit; the spans that fit are exported."""
    env = clean_environment({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_MAX_QUEUE_SIZE": "10",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
        "OTEL_TRACES_SAMPLER": "always_on",
    })
    code = "import logging\nfrom opentelemetry import trace\nfor i in range(50):\n" \
           "    trace.get_tracer('t').start_span('burst').end()\n"
    ran = python(code, env, project)
    assert ran.returncode == 0
    # A full queue wakes the export thread, which may drain a few before the burst ends (more so on a busy
    # machine): at least the queue's worth is exported, and every span is either exported or counted.
    exported = len(receiver.spans())
    dropped = 50 - exported
    assert 10 <= exported < 50
    (line,) = ran.obs_lines()
    assert f"{dropped} spans ({dropped} queue full" in line and "OTEL_BSP_MAX_QUEUE_SIZE" in line
    points = receiver.latest_points("obs.spans.dropped")
    assert [(point.attributes, point.value) for point in points] == [({"reason": "queue_full"}, dropped)]


def test_schedule_delay_exports_while_the_app_runs(receiver: OTLPReceiver, project: Path) -> None:
    """OTEL_BSP_SCHEDULE_DELAY: spans leave during the run, not only at exit (the app waits to see them)."""
    env = _to(receiver, OTEL_BSP_SCHEDULE_DELAY="100")
    code = (
        "import logging, time\nfrom opentelemetry import trace\n"
        "trace.get_tracer('t').start_span('early').end()\ntime.sleep(1.0)\n"
    )
    holder: dict[str, float] = {}

    def watch() -> None:
        receiver.wait_for(lambda: bool(receiver.spans()), timeout=10)
        holder["seen"] = 1.0

    watcher = threading.Thread(target=watch)
    watcher.start()
    ran = python(code, env, project)
    watcher.join()
    assert ran.returncode == 0 and holder
    (span,) = receiver.spans()
    assert span.end_ns - span.start_ns >= 0


@pytest.mark.parametrize(("sampler", "argument", "spans"), [
    ("always_off", None, 0),
    ("traceidratio", "0", 0),
    ("traceidratio", "1", 1),
    ("parentbased_always_on", None, 1),
])
def test_sampler(
    receiver: OTLPReceiver, project: Path, sampler: str, argument: str | None, spans: int
) -> None:
    """OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG pick the traces kept; metrics are never sampled."""
    extra = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_TRACES_SAMPLER": sampler}
    if argument is not None:
        extra["OTEL_TRACES_SAMPLER_ARG"] = argument
    assert python(WORK, clean_environment(extra), project).returncode == 0
    assert len(receiver.spans()) == spans
    assert receiver.metric_points("process.memory.usage")


@pytest.mark.parametrize(("variable", "value"), [
    ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
    ("OTEL_BLRP_MAX_QUEUE_SIZE", "lots"),
    ("OTEL_BSP_SCHEDULE_DELAY", "-5"),
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
])
def test_bad_variable_is_one_line_and_no_telemetry(project: Path, variable: str, value: str) -> None:
    """A bad OTEL_* value: one line naming the variable and the value; the app runs without the agent."""
    ran = python(WORK, clean_environment({variable: value}), project)
    assert ran.returncode == 0
    (line,) = ran.obs_lines()
    assert variable in line or variable.lower().removeprefix("otel_") in line
    assert value in line
    assert not (project / ".obs").exists()


def test_sdk_disabled_sends_nothing(receiver: OTLPReceiver, project: Path) -> None:
    """OTEL_SDK_DISABLED=true: nothing is exported and nothing is said."""
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SDK_DISABLED": "true"})
    ran = python(WORK, env, project)
    assert ran.returncode == 0 and ran.obs_lines() == []
    assert receiver.request_count == 0


def test_log_records_carry_the_span(receiver: OTLPReceiver, project: Path) -> None:
    """A stdlib record made inside a span arrives with that span's trace and span ids."""
    assert python(WORK, _to(receiver), project).returncode == 0
    (span,) = receiver.spans()
    (record,) = receiver.logs()
    assert (record.trace_id, record.span_id) == (span.trace_id, span.span_id)
