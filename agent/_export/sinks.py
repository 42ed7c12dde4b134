"""The ways out for OTLP requests: OTLP/HTTP, OTLP/gRPC, a JSON lines file, stdout; and the failure policy.

Each sink delivers one Export*ServiceRequest (a protobuf message, or its serialized bytes) before a deadline.
Failure policy, for an app that must not notice: a request that cannot be delivered is dropped (the caller
counts it). An endpoint that has never answered is not retried (it is down: say it once, move on); one that
has answered before gets quiet retries with backoff within the deadline, cut short at shutdown. Nothing here
logs per request. The HTTP client (``http.client`` loads ``ssl``), protobuf's JSON support (files,
console) and grpc are imported at the first delivery that needs them, on the export thread, through
:mod:`obs.agent._support.late_imports`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from obs.agent._config.routes import Route, Signal
from obs.agent._export import losses
from obs.agent._support.announce import announce
from obs.agent._support.late_imports import load
from obs.agent._support.report import error_once

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["ConsoleSink", "FileSink", "GrpcSink", "HttpSink", "Sink", "is_local", "origin"]

_FILE_LIMIT_BYTES = 64 * 1024 * 1024
"""A telemetry file is rotated to ``<name>.1`` past this size: local files stay bounded too."""
_FIRST_BACKOFF_S = 0.5


class Sink(Protocol):
    def deliver(self, request: Message | bytes, deadline: float) -> bool: ...

    @property
    def failure(self) -> str:
        """Why the last delivery failed (a reason of obs.agent._export.losses)."""
        ...

    def after_fork_in_child(self, closing: threading.Event) -> None:
        """In a forked child: drop the parent's connection; ``closing`` is the destination's new event."""
        ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


_REQUEST_TYPES: dict[Signal, tuple[str, str]] = {
    "traces": ("trace", "ExportTraceServiceRequest"),
    "metrics": ("metrics", "ExportMetricsServiceRequest"),
    "logs": ("logs", "ExportLogsServiceRequest"),
}
"""Each signal's request message, imported at the first delivery that needs a message (files, console,
gRPC): the HTTP sink sends bytes, and protobuf is a costly import."""


def _as_message(signal: Signal, request: Message | bytes) -> Message:
    if isinstance(request, bytes | bytearray | memoryview):
        service, name = _REQUEST_TYPES[signal]
        module = load(f"opentelemetry.proto.collector.{service}.v1.{service}_service_pb2")
        message: Message = getattr(module, name)()
        message.ParseFromString(bytes(request))
        return message
    return request


class _LocalSink:
    """A sink in this process: no connection to reset after fork, nothing in flight to abort."""

    failure = losses.EXPORT_FAILED

    def after_fork_in_child(self, closing: threading.Event) -> None:
        return

    def abort(self) -> None:
        return

    def close(self) -> None:
        return


def is_local(sink: object) -> bool:
    """A sink in this process (file, stdout), which waits on no peer."""
    return isinstance(sink, _LocalSink)


class FileSink(_LocalSink):
    """Appends OTLP/JSON lines; one ``write`` per batch on an ``O_APPEND`` file, so workers can share it."""

    def __init__(self, signal: Signal, path: Path) -> None:
        self._signal = signal
        self._path = path

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        line = load("obs.agent._otlp.json_lines").to_json_line(_as_message(self._signal, request))
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


class ConsoleSink(_LocalSink):
    """OTLP/JSON lines on stdout, for a look without any backend."""

    def __init__(self, signal: Signal) -> None:
        self._signal = signal

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        try:
            line = load("obs.agent._otlp.json_lines").to_json_line(_as_message(self._signal, request))
            sys.stdout.write(line.decode("utf-8"))
            sys.stdout.flush()
        except (OSError, ValueError):
            return False
        return True


class _Retrying:
    """The failure policy shared by the OTLP sinks (see the module docstring)."""

    def __init__(self, route: Route, closing: threading.Event) -> None:
        self.route = route
        self.closing = closing
        self.healthy = False
        self.failure = losses.EXPORT_FAILED
        """Why the last delivery failed (a reason of obs.agent._export.losses)."""

    def run(self, attempt: Callable[[float], tuple[bool, bool, str]], deadline: float) -> bool:
        """``attempt(timeout) -> (ok, transient, detail)``; retried only while it makes sense."""
        backoff = _FIRST_BACKOFF_S
        if deadline <= time.monotonic():
            self.failure = losses.QUEUED_AT_EXIT if self.closing.is_set() else losses.NOT_ANSWERING
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
        where = origin(self.route.url)
        self.failure = losses.NOT_ANSWERING if transient else losses.REFUSED
        if "CERTIFICATE_VERIFY_FAILED" in detail:  # ssl's code for it, in every OpenSSL message
            announce(f"untrusted:{where}", f"cannot send telemetry to {where}: its certificate is not "
                     f"trusted ({detail}); set OTEL_EXPORTER_OTLP_CERTIFICATE to the CA file that signed it. "
                     "Telemetry is dropped meanwhile (the app is not affected)")
        elif transient:
            announce(f"unreachable:{where}", f"cannot send telemetry to {where} ({detail}); it is dropped "
                     "while the endpoint does not answer (the app is not affected)")
        else:
            announce(f"rejected:{where}:{detail}", f"{where} refused telemetry ({detail}); check the "
                     "endpoint and OTEL_EXPORTER_OTLP_HEADERS")
        return False


class HttpSink:
    def __init__(self, route: Route, closing: threading.Event) -> None:
        self._sender = load("obs.agent._export.http_sender").HttpSender(route)
        self._policy = _Retrying(route, closing)

    @property
    def failure(self) -> str:
        return self._policy.failure

    def deliver(self, request: Message | bytes, deadline: float) -> bool:
        payload = request if isinstance(request, bytes) else request.SerializeToString()

        def attempt(timeout: float) -> tuple[bool, bool, str]:
            reply = self._sender.post(payload, timeout)
            detail = reply.detail if reply.status is None else f"HTTP {reply.status} {reply.detail}".strip()
            return reply.ok, reply.transient, detail

        return self._policy.run(attempt, deadline)

    def after_fork_in_child(self, closing: threading.Event) -> None:
        self._policy.closing = closing
        self._sender.after_fork_in_child()

    def abort(self) -> None:
        self._sender.abort()

    def close(self) -> None:
        self._sender.close()


_GRPC_TRANSIENT = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED",
                             "CANCELLED", "OUT_OF_RANGE", "DATA_LOSS"})


class GrpcSink:
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

    @property
    def failure(self) -> str:
        return self._policy.failure

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

    def after_fork_in_child(self, closing: threading.Event) -> None:
        self._policy.closing = closing
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


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` for obs's own lines: a password in the URL is never shown."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:REDACTED@{host}" if ":" in user else f"{user}@{host}"
    return f"{parts.scheme}://{netloc}"
