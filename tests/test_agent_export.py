"""The export path in-process: the HTTP sender, a destination's failure policy, the span queue, the
resource and the process metrics, against real loopback HTTP servers and the SDK's own data types.
(No global provider is set here: each test builds what it needs.)
"""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from obs.agent import catalog
from obs.agent._config.limits import BatchLimits
from obs.agent._config.resource import build_resource
from obs.agent._config.routes import resolve_routes
from obs.agent._export.destination import Destination
from obs.agent._export.http_sender import HttpSender
from obs.agent._metrics.process import ProcessMetrics
from obs.agent._traces.span_queue import SpanQueue
from obs.agent.settings import load_settings
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class _Scripted:
    """An HTTP endpoint answering POSTs with the statuses it is given (then 200), recording each request."""

    def __init__(self, statuses: list[int], *, close_after_each: bool = False) -> None:
        self.statuses = statuses
        self.bodies: list[bytes] = []
        self.connections: set[tuple[str, int]] = set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                owner.bodies.append(body)
                owner.connections.add(self.client_address)
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if close_after_each:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[list[_Scripted]]:
    made: list[_Scripted] = []
    yield made
    for server in made:
        server.stop()


def _route(tmp_path: Path, url: str, **environ: str) -> Any:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, **environ}
    return resolve_routes(load_settings(environ=environ, cwd=tmp_path), environ)["traces"]


def test_sender_keeps_the_connection_and_compresses(tmp_path: Path, scripted: list[_Scripted]) -> None:
    """Three posts use one kept-alive connection; with gzip the server receives the same bytes."""
    server = _Scripted([])
    scripted.append(server)
    sender = HttpSender(_route(tmp_path, server.url, OTEL_EXPORTER_OTLP_COMPRESSION="gzip"))
    replies = [sender.post(b"payload-%d" % number, 5.0) for number in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert server.bodies == [b"payload-0", b"payload-1", b"payload-2"]
    assert len(server.connections) == 1
    sender.close()


def test_sender_retries_a_stale_connection_once(tmp_path: Path, scripted: list[_Scripted]) -> None:
    """A server that drops kept-alive connections: the next post reconnects at once and succeeds."""
    server = _Scripted([], close_after_each=True)
    scripted.append(server)
    sender = HttpSender(_route(tmp_path, server.url))
    assert sender.post(b"first", 5.0).ok
    time.sleep(0.05)
    assert sender.post(b"second", 5.0).ok
    assert server.bodies == [b"first", b"second"]


class _RawAnswers:
    """A TCP server that reads each HTTP request (headers and Content-Length body) and writes the next of
    the raw answers it is given, byte for byte; an answer ending in ``CLOSE`` is followed by closing."""

    CLOSE = b"<close>"

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while self.answers:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection, connection.makefile("rb") as stream:
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = stream.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:"))
                    self.requests.append((head, stream.read(length)))
                    answer = self.answers.pop(0)
                    connection.sendall(answer.removesuffix(self.CLOSE))
                    if answer.endswith(self.CLOSE):
                        break

    def stop(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(("answer", "kept"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
     True),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" + _RawAnswers.CLOSE, False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n" + _RawAnswers.CLOSE, False),
    (b"HTTP/1.1 200 OK\r\n\r\nbody until the end" + _RawAnswers.CLOSE, False),
])
def test_sender_reads_every_shape_of_answer(tmp_path: Path, answer: bytes, kept: bool) -> None:
    """Content-Length, chunked (extensions, trailers), an interim 1xx, ``Connection: close``, HTTP/1.0 and a
    body delimited by the end of the connection: each post gets its status, and the connection is kept alive
    exactly when the server allows it."""
    server = _RawAnswers([answer, answer])
    sender = HttpSender(_route(tmp_path, server.url, OTEL_EXPORTER_OTLP_HEADERS="api-key=secret"))
    try:
        replies = [sender.post(b"payload-%d" % number, 5.0) for number in range(2)]
    finally:
        sender.close()
        server.stop()
    assert [reply.ok for reply in replies] == [True, True], replies
    assert server.connections == (1 if kept else 2)
    head = server.requests[0][0]
    assert head.startswith(b"POST /v1/traces HTTP/1.1\r\n")
    assert b"\r\napi-key: secret\r\n" in head
    assert b"\r\nContent-Type: application/x-protobuf\r\n" in head
    assert [body for _, body in server.requests] == [b"payload-0", b"payload-1"]


@pytest.mark.parametrize(("answer", "detail"), [
    (b"SSH-2.0-OpenSSH\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "negative length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "in the middle of its answer"),
])
def test_sender_reports_a_broken_answer(tmp_path: Path, answer: bytes, detail: str) -> None:
    """Something else listening on the port, or an answer that lies about its length: the post fails at
    once with a reason, nothing raises."""
    server = _RawAnswers([answer + _RawAnswers.CLOSE])
    sender = HttpSender(_route(tmp_path, server.url))
    started = time.monotonic()
    try:
        reply = sender.post(b"payload", 5.0)
    finally:
        sender.close()
        server.stop()
    assert reply.status is None
    assert detail in reply.detail
    assert time.monotonic() - started < 1.0


def test_destination_never_retries_an_endpoint_that_never_answered(tmp_path: Path) -> None:
    """Connection refused from the start: one attempt per batch, no backoff (the export thread is free at
    once), counted as a failed batch."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    route = _route(tmp_path, f"http://127.0.0.1:{port}")
    destination = Destination(route, load_settings(environ={}, cwd=tmp_path))
    started = time.monotonic()
    assert destination.deliver(b"batch") is False
    assert destination.deliver(b"batch") is False
    assert time.monotonic() - started < 0.5
    assert destination.failed_batches == 2


def test_destination_retries_quietly_once_it_has_worked(tmp_path: Path, scripted: list[_Scripted]) -> None:
    """An endpoint that answered before and now says 503 is retried with backoff within the timeout."""
    server = _Scripted([])
    scripted.append(server)
    destination = Destination(_route(tmp_path, server.url), load_settings(environ={}, cwd=tmp_path))
    assert destination.deliver(b"one")
    server.statuses.extend([503, 503])
    assert destination.deliver(b"two", timeout_s=5.0)
    assert server.bodies == [b"one", b"two", b"two", b"two"]


def test_destination_stops_retrying_at_close(tmp_path: Path, scripted: list[_Scripted]) -> None:
    """Once closing, a retrying delivery gives up at the close deadline, not at the export timeout."""
    server = _Scripted([])
    scripted.append(server)
    destination = Destination(_route(tmp_path, server.url), load_settings(environ={}, cwd=tmp_path))
    assert destination.deliver(b"one")
    server.statuses.extend([503] * 20)
    destination.close_by(time.monotonic() + 0.3)
    started = time.monotonic()
    assert destination.deliver(b"two", timeout_s=10.0) is False
    assert time.monotonic() - started < 1.0


class _Collecting(SpanExporter):
    def __init__(self) -> None:
        self.names: list[str] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.names.extend(span.name for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return


def test_span_queue_bounds_counts_and_flushes() -> None:
    """Past the queue size spans are dropped and counted; flush exports the rest in batches; after close,
    spans are refused."""
    exporter = _Collecting()
    limits = BatchLimits(schedule_delay_ms=60_000, max_queue_size=5, max_export_batch_size=2)
    queue = SpanQueue(exporter, limits)
    reader = InMemoryMetricReader()
    queue.count_drops_with(MeterProvider(metric_readers=[reader]).get_meter("t").create_counter("dropped"))
    provider = TracerProvider()
    provider.add_span_processor(queue)
    tracer = provider.get_tracer("t")
    for number in range(8):
        tracer.start_span(f"s{number}").end()
    assert queue.flush(5.0)
    assert exporter.names == ["s0", "s1", "s2", "s3", "s4"]
    assert queue.dropped == 3 and queue.lost() == {"queue_full": 3}
    points = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert [(dict(point.attributes), point.value) for point in points] == [({"reason": "queue_full"}, 3)]
    assert queue.close(1.0)
    tracer.start_span("late").end()
    assert exporter.names[-1] == "s4"


def test_resource_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_RESOURCE_ATTRIBUTES beats obs's defaults (project name, environment) but not settings given on
    purpose; process and host facts are there."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    attributes_variable = "service.name=from-attrs,deployment.environment.name=prod,k=v"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", attributes_variable)
    attributes = build_resource(load_settings(environ={}, cwd=tmp_path)).attributes
    assert (attributes["service.name"], attributes["deployment.environment.name"]) == ("from-attrs", "prod")
    chosen = load_settings({"service_name": "chosen"}, environ={"OBS_ENVIRONMENT": "qa"}, cwd=tmp_path)
    attributes = build_resource(chosen).attributes
    assert (attributes["service.name"], attributes["deployment.environment.name"], attributes["k"]) == (
        "chosen", "qa", "v")
    assert attributes["process.pid"] > 0 and attributes["host.name"]
    assert attributes["telemetry.sdk.language"] == "python"


def test_process_metrics_are_named_as_the_catalog() -> None:
    """Every process instrument of the catalog is reported, with the catalog's unit and attributes."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    ProcessMetrics().register(provider.get_meter("obs.process"))
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {metric.name: metric for resource in data.resource_metrics for scope in resource.scope_metrics
               for metric in scope.metrics}
    expected = {instrument.name: instrument for instrument in catalog.CATALOG
                if instrument.source is catalog.Source.PROCESS}
    assert set(metrics) == set(expected)
    for name, instrument in expected.items():
        assert metrics[name].unit == instrument.unit
        for point in metrics[name].data.data_points:
            assert set(point.attributes) == set(instrument.attributes)
    modes = {point.attributes["cpu.mode"] for point in metrics["process.cpu.time"].data.data_points}
    assert modes == {"user", "system"}
    provider.shutdown()


class _Preparing(_Collecting):
    """An exporter that encodes each span as it ends (as obs's does), noting on which thread."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared_on: set[str] = set()
        self.sent_on: set[str] = set()

    def prepare(self, span: Any) -> str:
        self.prepared_on.add(threading.current_thread().name)
        return f"encoded {span.name}"

    def export_prepared(self, spans: Any) -> None:
        self.sent_on.add(threading.current_thread().name)
        self.names.extend(spans)


def test_span_queue_encodes_on_the_ending_thread_and_only_sends_on_its_own() -> None:
    """A preparing exporter gets each span as it ends, on the app's thread, so the export thread only joins
    and sends bytes (and hardly competes for the GIL); batches keep their order."""
    exporter = _Preparing()
    limits = BatchLimits(schedule_delay_ms=60_000, max_queue_size=10, max_export_batch_size=2)
    queue = SpanQueue(exporter, limits)
    provider = TracerProvider()
    provider.add_span_processor(queue)
    for number in range(3):
        provider.get_tracer("t").start_span(f"s{number}").end()
    assert queue.close(5.0)
    assert exporter.names == ["encoded s0", "encoded s1", "encoded s2"]
    assert exporter.prepared_on == {threading.current_thread().name}
    assert exporter.sent_on == {"obs-span-export"}


def test_a_post_waits_for_a_busy_connection_no_longer_than_its_own_time(tmp_path: Path) -> None:
    """A delivery from the exiting thread must not wait past its deadline for another thread's request still
    waiting on a mute endpoint (where the exiting interpreter refuses the deadline timer's thread, nothing
    else would cut it short): it gives up at its own time, and the other request is aborted at close."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    try:
        sender = HttpSender(_route(tmp_path, f"http://127.0.0.1:{mute.getsockname()[1]}"))
        first: list[Any] = []
        waiting = threading.Thread(target=lambda: first.append(sender.post(b"first", 30.0)), daemon=True)
        waiting.start()
        time.sleep(0.3)  # the first request is sent and waits for an answer that never comes
        started = time.monotonic()
        second = sender.post(b"second", 0.5)
        assert time.monotonic() - started < 5.0  # a hang guard: it waited for the whole 30 s before
        assert second.status is None and "busy" in second.detail
        sender.close()
        waiting.join(5.0)
        assert first and first[0].status is None
    finally:
        mute.close()


def test_the_agent_connects_to_localhost_and_ip_literals_without_the_resolver() -> None:
    """The collector probe and the HTTP sender reach ``localhost`` and IP literals without calling
    ``getaddrinfo`` (whose resolver lock, or first import of the ``idna`` codec, a fork on another thread can
    leave held for ever in the child); a name goes through the resolver, codec included for a non-ASCII
    one, under the late-import guard that a fork waits for."""
    code = """
import socket, sys
from obs.agent._export import fallback, tcp
from obs.agent._support import late_imports
server = socket.create_server(("127.0.0.1", 0))
port = server.getsockname()[1]
resolve = socket.getaddrinfo
def refuse(*args, **kwargs):
    raise AssertionError(f"resolver asked for {args[0]!r}")
socket.getaddrinfo = refuse
assert fallback.collector_answers(f"http://localhost:{port}")
for host in ("localhost", "LOCALHOST", "127.0.0.1"):
    tcp.connect(host, port, 1.0).close()
print("idna loaded" if "encodings.idna" in sys.modules else "no idna")
asked = []
def spy(*args, **kwargs):
    asked.append((args[0], late_imports._guard._is_owned()))
    return resolve(*args, **kwargs)
socket.getaddrinfo = spy
for name in ("obs-test.invalid", "b\\u00fccher.invalid"):
    try:
        tcp.connect(name, port, 1.0)
    except OSError:
        pass
print("idna loaded" if "encodings.idna" in sys.modules else "no idna")
print(asked)
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.stdout.splitlines() == [
        "no idna", "idna loaded", "[(b'obs-test.invalid', True), ('bücher.invalid', True)]",
    ], ran.stdout + ran.stderr
