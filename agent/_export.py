"""Exporters: the SDK's exporter interfaces in front of one :class:`Destination` per signal.

A destination is decided at its first delivery, on the export thread, never at start-up: OTLP over HTTP
(:mod:`obs.agent._http`) or gRPC (imported only then), an OTLP/JSON lines file (the Collector file exporter's
format, under ``settings.telemetry_path()``), or stdout. With no endpoint configured and nothing answering at
the default one, the file takes over and one line says so (:mod:`obs.agent._fallback`).

Failure policy, for an app that must not notice: a batch that cannot be delivered is dropped and counted. A
destination that has never answered is not retried (the endpoint is down: say it once, move on); one that has
answered before gets quiet retries with backoff within the export timeout, cut short at shutdown. Nothing here
logs per batch. Encoding uses the SDK's protobuf encoders. The HTTP client (``http.client`` loads ``ssl``:
10 ms) and grpc are imported at the first export, on the export thread, through :mod:`obs.agent._lazy`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from obs.agent._announce import announce
from obs.agent._fallback import collector_answers
from obs.agent._lazy import load
from obs.agent._otlp_json import to_json_line
from obs.agent._report import error_once
from obs.agent._routes import Route, Signal
from obs.agent.settings import Settings
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["Destination", "LogExporter", "MetricExporterToDestination", "SpanExporterToDestination"]

_FILE_LIMIT_BYTES = 64 * 1024 * 1024
"""A telemetry file is rotated to ``<name>.1`` past this size: local files stay bounded too."""
_FIRST_BACKOFF_S = 0.5


class _Sink(Protocol):
    def deliver(self, request: Message | bytes, deadline: float) -> bool: ...

    def after_fork_in_child(self) -> None: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


_REQUEST_TYPES: dict[Signal, Any] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}


def _as_message(signal: Signal, request: Message | bytes) -> Message:
    if isinstance(request, bytes | bytearray | memoryview):
        message: Message = _REQUEST_TYPES[signal]()
        message.ParseFromString(bytes(request))
        return message
    return request


class _FileSink:
    """Appends OTLP/JSON lines; one ``write`` per batch on an ``O_APPEND`` file, so workers can share it."""

    def __init__(self, signal: Signal, path: Path) -> None:
        self._signal = signal
        self._path = path

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        line = to_json_line(_as_message(self._signal, request))
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._rotate_if_full()
            descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)
        except OSError as error:
            error_once(f"writing telemetry to {self._path}", error)
            return False
        return True

    def _rotate_if_full(self) -> None:
        try:
            if self._path.stat().st_size > _FILE_LIMIT_BYTES:
                os.replace(self._path, self._path.with_name(self._path.name + ".1"))
        except FileNotFoundError:
            pass

    def after_fork_in_child(self) -> None:
        return

    def abort(self) -> None:
        return

    def close(self) -> None:
        return


class _ConsoleSink:
    """OTLP/JSON lines on stdout, for a look without any backend."""

    def __init__(self, signal: Signal) -> None:
        self._signal = signal

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        try:
            sys.stdout.write(to_json_line(_as_message(self._signal, request)).decode("utf-8"))
            sys.stdout.flush()
        except (OSError, ValueError):
            return False
        return True

    def after_fork_in_child(self) -> None:
        return

    def abort(self) -> None:
        return

    def close(self) -> None:
        return


class _Retrying:
    """The failure policy shared by the OTLP sinks (see the module docstring)."""

    def __init__(self, route: Route, closing: threading.Event) -> None:
        self.route = route
        self.closing = closing
        self.healthy = False

    def run(self, attempt: Any, deadline: float) -> bool:
        """``attempt(timeout) -> (ok, transient, detail)``; retried only while it makes sense."""
        backoff = _FIRST_BACKOFF_S
        if deadline <= time.monotonic():
            return False
        while True:
            remaining = deadline - time.monotonic()
            ok, transient, detail = attempt(min(remaining, self.route.timeout))
            if ok:
                self.healthy = True
                return True
            remaining = deadline - time.monotonic()
            if not (transient and self.healthy) or self.closing.is_set() or backoff >= remaining:
                return self._failed(transient, detail)
            if self.closing.wait(backoff):
                return self._failed(transient, detail)
            backoff *= 2

    def _failed(self, transient: bool, detail: str) -> bool:
        where = _origin(self.route.url)
        if transient:
            announce(f"unreachable:{where}", f"cannot send telemetry to {where} ({detail}); it is dropped "
                     "while the endpoint does not answer (the app is not affected)")
        else:
            announce(f"rejected:{where}:{detail}", f"{where} refused telemetry ({detail}); check the "
                     "endpoint and OTEL_EXPORTER_OTLP_HEADERS")
        return False


class _HttpSink:
    def __init__(self, route: Route, closing: threading.Event) -> None:
        self._sender = load("obs.agent._http").HttpSender(route)
        self._policy = _Retrying(route, closing)

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        payload = request if isinstance(request, bytes) else request.SerializeToString()

        def attempt(timeout: float) -> tuple[bool, bool, str]:
            reply = self._sender.post(payload, timeout)
            detail = reply.detail if reply.status is None else f"HTTP {reply.status} {reply.detail}".strip()
            return reply.ok, reply.transient, detail

        return self._policy.run(attempt, deadline)

    def after_fork_in_child(self) -> None:
        self._sender.after_fork_in_child()

    def abort(self) -> None:
        self._sender.abort()

    def close(self) -> None:
        self._sender.close()


_GRPC_TRANSIENT = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED",
                             "CANCELLED", "OUT_OF_RANGE", "DATA_LOSS"})


class _GrpcSink:
    """OTLP/gRPC: grpc is imported only here, at the first export of a process that asked for it."""

    def __init__(self, route: Route, closing: threading.Event) -> None:
        self._route = route
        self._policy = _Retrying(route, closing)
        self._stub: Any = None
        self._channel: Any = None

    def _connect(self) -> Any:
        if self._stub is None:
            from urllib.parse import urlsplit

            grpc = _grpc()

            parts = urlsplit(self._route.url)
            target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 4317)}"
            if parts.scheme == "https":
                def read(path: str | None) -> bytes | None:
                    return Path(path).read_bytes() if path else None

                credentials = grpc.ssl_channel_credentials(
                    read(self._route.certificate), read(self._route.client_key),
                    read(self._route.client_certificate),
                )
                self._channel = grpc.secure_channel(target, credentials)
            else:
                self._channel = grpc.insecure_channel(target)
            self._stub = _grpc_stub(self._route.signal)(self._channel)
        return self._stub

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        grpc = _grpc()
        message = _as_message(self._route.signal, request)
        metadata = tuple((key.lower(), value) for key, value in self._route.headers)
        compression = grpc.Compression.Gzip if self._route.compression == "gzip" else None

        def attempt(timeout: float) -> tuple[bool, bool, str]:
            try:
                self._connect().Export(message, timeout=timeout, metadata=metadata, compression=compression)
            except grpc.RpcError as error:
                code = error.code() if callable(getattr(error, "code", None)) else None
                name = getattr(code, "name", "UNKNOWN")
                return False, name in _GRPC_TRANSIENT, f"gRPC {name}"
            return True, False, ""

        return self._policy.run(attempt, deadline)

    def after_fork_in_child(self) -> None:
        self._stub = None
        self._channel = None

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            with contextlib.suppress(Exception):  # a channel that fails to close is gone anyway
                channel.close()


def _grpc() -> Any:
    """grpc, untyped (no stubs) and imported only by processes that export over gRPC."""
    return load("grpc")


def _grpc_stub(signal: Signal) -> Any:
    service = {"traces": "trace", "metrics": "metrics", "logs": "logs"}[signal]
    name = {"traces": "TraceServiceStub", "metrics": "MetricsServiceStub", "logs": "LogsServiceStub"}[signal]
    return getattr(load(f"opentelemetry.proto.collector.{service}.v1.{service}_service_pb2_grpc"), name)


class Destination:
    """One signal's way out, decided at the first delivery. Thread-safe."""

    def __init__(self, route: Route, settings: Settings) -> None:
        self.route = route
        self._telemetry_path = settings.telemetry_path()
        self._closing = threading.Event()
        self._close_by: float | None = None
        self._sink: _Sink | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.failed_batches = 0

    def _choose(self) -> _Sink:
        route = self.route
        if route.exporter == "file":
            return _FileSink(route.signal, self._telemetry_path / f"{route.signal}.jsonl")
        if route.exporter == "console":
            return _ConsoleSink(route.signal)
        if route.may_fall_back and not collector_answers(route.url):
            shown = _shown_path(self._telemetry_path)
            announce("fallback", f"no OpenTelemetry collector answers at {_origin(route.url)}; "
                     f"telemetry goes to {shown}/ instead (see it with `obs view`)")
            return _FileSink(route.signal, self._telemetry_path / f"{route.signal}.jsonl")
        if route.protocol == "grpc":
            return _GrpcSink(route, self._closing)
        return _HttpSink(route, self._closing)

    def deliver(self, request: Message | bytes, timeout_s: float | None = None) -> bool:
        """Deliver one Export*ServiceRequest (message or serialized); False when it was dropped."""
        with self._lock:
            if self._closed:
                self.failed_batches += 1
                return False
            if self._sink is None:
                self._sink = self._choose()
            sink = self._sink
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.route.timeout)
        if self._close_by is not None:
            deadline = min(deadline, self._close_by)
        try:
            delivered = sink.deliver(request, deadline)
        except Exception as error:
            error_once(f"exporting {self.route.signal}", error)
            delivered = False
        if not delivered:
            self.failed_batches += 1
        return delivered

    def close_by(self, deadline: float) -> None:
        """From now on, retries stop and deliveries give up at ``deadline`` (time.monotonic); one still
        waiting for an answer then is aborted."""
        self._close_by = deadline
        self._closing.set()
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._abort)
        timer.daemon = True
        timer.start()

    def _abort(self) -> None:
        sink = self._sink
        if sink is not None:
            sink.abort()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        if self._sink is not None:
            self._sink.after_fork_in_child()

    def close(self) -> None:
        """Refuse further deliveries and release the connection."""
        self._closing.set()
        self._closed = True
        sink = self._sink
        if sink is not None:
            sink.close()


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


class SpanExporterToDestination(SpanExporter):
    """The SDK span exporter interface, encoding with the SDK's protobuf encoder."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        delivered = self.destination.deliver(encode_spans(spans))
        return SpanExportResult.SUCCESS if delivered else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.destination.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class MetricExporterToDestination(MetricExporter):
    """The SDK metric exporter interface (cumulative temporality, default aggregations)."""

    def __init__(self, destination: Destination) -> None:
        super().__init__()
        self.destination = destination

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        delivered = self.destination.deliver(encode_metrics(metrics_data), timeout_millis / 1000.0)
        return MetricExportResult.SUCCESS if delivered else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.destination.close()


class LogExporter(LogRecordExporter):
    """The SDK log exporter interface, plus :meth:`export_serialized` for records already encoded."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        delivered = self.destination.deliver(encode_logs(batch))
        return LogRecordExportResult.SUCCESS if delivered else LogRecordExportResult.FAILURE

    def export_serialized(self, payload: bytes) -> bool:
        """Deliver a serialized ExportLogsServiceRequest (the logs bridge encodes its records itself)."""
        return self.destination.deliver(payload)

    def shutdown(self) -> None:
        self.destination.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
