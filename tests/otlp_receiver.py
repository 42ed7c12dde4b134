"""A real OTLP/HTTP receiver for the tests: it decodes the protobuf the agent sends over loopback.

It speaks the protocol as the Collector does (POST /v1/traces, /v1/metrics, /v1/logs, protobuf or gzip'd
protobuf, 200 with an empty Export*ServiceResponse), and keeps what it received in plain Python structures
so tests can make assertions on spans, metric points and log records, and every byte it was sent
(:meth:`OTLPReceiver.raw`). It can be stopped and started again on the same port (an outage), and
:class:`MuteCollector` accepts connections and never answers (a hung collector).
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from obs.view.otlpjson import any_value, attributes

__all__ = ["LogRecord", "MetricPoint", "MuteCollector", "OTLPReceiver", "Span", "any_value", "attributes"]


@dataclass(frozen=True)
class Span:
    resource: dict[str, Any]
    scope: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int
    start_ns: int
    end_ns: int
    status_message: str = ""
    events: tuple[str, ...] = ()
    event_attributes: tuple[dict[str, Any], ...] = ()
    """Each event's attributes, in the order of ``events``."""


@dataclass(frozen=True)
class MetricPoint:
    resource: dict[str, Any]
    scope: str
    name: str
    unit: str
    kind: str
    attributes: dict[str, Any]
    value: float
    count: int = 0
    bucket_counts: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()
    time_ns: int = 0
    start_ns: int = 0
    exemplar_trace_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogRecord:
    resource: dict[str, Any]
    scope: str
    body: Any
    severity_text: str
    severity_number: int
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass
class _Store:
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    logs: list[ExportLogsServiceRequest] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    requests: int = 0
    refusing: dict[str, int] = field(default_factory=dict)
    refused: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_ROUTES: dict[str, tuple[str, Callable[[], Any], Callable[[], Any]]] = {
    "/v1/traces": ("traces", ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": ("logs", ExportLogsServiceRequest, ExportLogsServiceResponse),
}


class OTLPReceiver:
    """Start with ``with OTLPReceiver() as receiver:``; point the agent at ``receiver.endpoint``."""

    def __init__(self, *, keep: bool = True, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: (certificate, key) files to serve HTTPS with, at ``https://localhost:PORT``."""
        self._store = _Store()
        self._tls = tls
        self._keep = keep
        store, keep_data = self._store, keep
        self._connections: set[socket.socket] = set()
        connections = self._connections

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with store.lock:
                    connections.add(self.connection)

            def finish(self) -> None:
                with store.lock:
                    connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                route = _ROUTES.get(self.path.split("?")[0])
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if route is None:
                    self._answer(404, b"")
                    return
                signal, request_type, response_type = route
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = request_type()
                try:
                    request.ParseFromString(body)
                except DecodeError:
                    self._answer(400, b"")
                    return
                with store.lock:
                    refused = store.refusing.get(signal, 0) > 0
                    if refused:
                        store.refusing[signal] -= 1
                        store.refused.append(request)
                if refused:
                    self._answer(400, b"")
                    return
                with store.lock:
                    store.requests += 1
                    if keep_data:
                        getattr(store, signal).append(request)
                        store.raw.append(body)
                self._answer(200, response_type().SerializeToString())

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._handler = Handler
        self._port = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Serve (again, on the same port after :meth:`stop`)."""
        server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler)
        server.daemon_threads = True
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._port = int(server.server_address[1])
        self._server = server
        threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True).start()

    def stop(self) -> None:
        """Stop answering: the port refuses connections and kept-alive ones are closed (an outage)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._store.lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"https://localhost:{self.port}" if self._tls else f"http://127.0.0.1:{self.port}"

    @property
    def request_count(self) -> int:
        with self._store.lock:
            return self._store.requests

    def __enter__(self) -> OTLPReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def raw(self) -> bytes:
        """Every request body received (decompressed), joined: for searching what left the app."""
        with self._store.lock:
            return b"".join(self._store.raw)

    def clear(self) -> None:
        with self._store.lock:
            self._store.raw.clear()
            self._store.traces.clear()
            self._store.metrics.clear()
            self._store.logs.clear()

    def spans(self) -> list[Span]:
        with self._store.lock:
            requests = list(self._store.traces)
        return [
            Span(
                resource=attributes(resource_spans.resource.attributes),
                scope=scope_spans.scope.name,
                name=span.name,
                kind=span.kind,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
                attributes=attributes(span.attributes),
                status_code=span.status.code,
                start_ns=span.start_time_unix_nano,
                end_ns=span.end_time_unix_nano,
                status_message=span.status.message,
                events=tuple(event.name for event in span.events),
                event_attributes=tuple(attributes(event.attributes) for event in span.events),
            )
            for request in requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def metric_points(self, name: str | None = None) -> list[MetricPoint]:
        with self._store.lock:
            requests = list(self._store.metrics)
        return [point for request in requests for point in _points(request) if name in (None, point.name)]

    def refuse(self, signal: str, times: int) -> None:
        """Answer the next ``times`` requests of ``signal`` (``"metrics"``...) with 400 Bad Request, an error
        the sender is not to retry; they are kept apart (:meth:`refused_points`), not counted as received."""
        with self._store.lock:
            self._store.refusing[signal] = times

    def refused_points(self) -> list[MetricPoint]:
        """The data points of the metric requests refused so far."""
        with self._store.lock:
            requests = [request for request in self._store.refused
                        if isinstance(request, ExportMetricsServiceRequest)]
        return [point for request in requests for point in _points(request)]

    @property
    def refused_count(self) -> int:
        with self._store.lock:
            return len(self._store.refused)

    def latest_points(self, name: str) -> list[MetricPoint]:
        """The newest point of each (resource, attributes) series: cumulative values are read from these."""
        newest: dict[tuple[str, str], MetricPoint] = {}
        for point in self.metric_points(name):
            key = (repr(sorted(point.resource.items())), repr(sorted(point.attributes.items())))
            if key not in newest or point.time_ns >= newest[key].time_ns:
                newest[key] = point
        return list(newest.values())

    def logs(self) -> list[LogRecord]:
        with self._store.lock:
            requests = list(self._store.logs)
        return [
            LogRecord(
                resource=attributes(resource_logs.resource.attributes),
                scope=scope_logs.scope.name,
                body=any_value(record.body),
                severity_text=record.severity_text,
                severity_number=record.severity_number,
                trace_id=record.trace_id.hex(),
                span_id=record.span_id.hex(),
                attributes=attributes(record.attributes),
            )
            for request in requests
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Poll until ``condition()`` holds; returns whether it did (the test asserts on it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.1)
        return condition()


class MuteCollector:
    """Accepts TCP connections on loopback and never answers: a collector that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)  # read nothing, answer nothing, close nothing

    def __enter__(self) -> MuteCollector:
        threading.Thread(target=self._accept, name="mute-collector", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._listener.close()
        for connection in self._held:
            connection.close()


def _points(request: ExportMetricsServiceRequest) -> Iterator[MetricPoint]:
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data") or ""
                data = getattr(metric, kind) if kind else None
                if data is None:
                    continue
                for point in data.data_points:
                    common = {
                        "resource": resource,
                        "scope": scope,
                        "name": metric.name,
                        "unit": metric.unit,
                        "kind": kind,
                        "attributes": attributes(point.attributes),
                        "time_ns": point.time_unix_nano,
                        "start_ns": point.start_time_unix_nano,
                    }
                    if kind == "histogram":
                        yield MetricPoint(
                            value=point.sum, count=point.count, bucket_counts=tuple(point.bucket_counts),
                            bounds=tuple(point.explicit_bounds),
                            exemplar_trace_ids=tuple(exemplar.trace_id.hex() for exemplar in point.exemplars),
                            **common,
                        )
                    elif kind in ("sum", "gauge"):
                        number = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                        yield MetricPoint(value=float(number), **common)
