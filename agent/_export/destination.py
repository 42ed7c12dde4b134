"""Exporters: the SDK's exporter interfaces in front of one :class:`Destination` per signal.

A destination picks its sink (:mod:`obs.agent._export.sinks`) at its first delivery, on the export thread,
never at start-up: OTLP over HTTP or gRPC, an OTLP/JSON lines file (the Collector file exporter's format,
under ``settings.telemetry_path()``), or stdout. With no endpoint configured and nothing answering at the
default one, the file takes over and one line says so (:mod:`obs.agent._export.fallback`). Spans are encoded
by :mod:`obs.agent._otlp.spans`, metrics by :mod:`obs.agent._otlp.metrics` (their exporter is in
:mod:`obs.agent._metrics.sdk`, loaded with the metrics SDK), SDK log records by the SDK's protobuf encoder;
the logs bridge hands over requests it serialized itself (:meth:`LogExporter.export_serialized`). protobuf
itself (a costly import) loads only when something needs messages: an SDK log record, or a file, console
or gRPC sink.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from obs.agent._compat import LogRecordExporter, LogRecordExportResult, ReadableLogRecord, encode_sdk_logs
from obs.agent._config.routes import Route
from obs.agent._export import losses
from obs.agent._export.fallback import collector_answers, known_answer
from obs.agent._export.sinks import ConsoleSink, FileSink, GrpcSink, HttpSink, Sink, is_local, origin
from obs.agent._otlp.spans import EncodedSpan, SpanEncoder
from obs.agent._support.announce import announce
from obs.agent._support.greenlets import register
from obs.agent._support.report import error_once
from obs.agent._support.threads import start
from obs.agent.settings import Settings
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["Destination", "LogExporter", "SpanExporterToDestination"]


class Destination:
    """One signal's way out, decided at the first delivery. Thread-safe."""

    def __init__(self, route: Route, settings: Settings) -> None:
        self.route = route
        self._telemetry_path = settings.telemetry_path()
        self._closing = threading.Event()
        self._close_by: float | None = None
        self._sink: Sink | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.failed_batches = 0
        self.last_failure = losses.EXPORT_FAILED
        """Why the last delivery that failed did (a reason of obs.agent._export.losses)."""
        self.unexported_points = 0
        """Metrics only: the data points of the last export, when it failed (each failure is also counted in
        obs.metrics.dropped; values being cumulative, the next export carries the totals again: only a failed
        last export's are said at exit)."""
        self.skipped_at_exit = False
        """Metrics only: the last export was not even tried, the exit's time being spent (a loss too)."""
        register(self)

    def _choose(self) -> Sink:
        route = self.route
        if route.exporter == "file":
            return FileSink(route.signal, self._telemetry_path / f"{route.signal}.jsonl")
        if route.exporter == "console":
            return ConsoleSink(route.signal)
        if route.may_fall_back and not collector_answers(route.url):
            shown = _shown_path(self._telemetry_path)
            announce("fallback", f"no OpenTelemetry collector answers at {origin(route.url)}; "
                     f"telemetry goes to {shown}/ instead (see it with `obs view`)")
            return FileSink(route.signal, self._telemetry_path / f"{route.signal}.jsonl")
        if route.protocol == "grpc":
            return GrpcSink(route, self._closing)
        return HttpSink(route, self._closing)

    @property
    def local(self) -> bool:
        """A way out in this process (a file, stdout), chosen or sure to be: it cannot hang on a peer, so
        the exit lets it write what it holds a little past its share (obs.agent._pipeline)."""
        sink = self._sink
        if sink is not None:
            return is_local(sink)
        route = self.route
        if route.exporter in ("file", "console"):
            return True
        return route.may_fall_back and known_answer(route.url) is False

    def deliver(self, request: Message | bytes, timeout_s: float | None = None) -> bool:
        """Deliver one Export*ServiceRequest (message or serialized); False when it was dropped."""
        with self._lock:
            if self._closed:
                self.failed_batches += 1
                self.last_failure = losses.QUEUED_AT_EXIT
                return False
            if self._sink is None:
                self._sink = self._choose()
            sink = self._sink
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.route.timeout)
        if self._close_by is not None:
            deadline = min(deadline, self._close_by)
        try:
            delivered = sink.deliver(request, deadline)
            failure = sink.failure
        except Exception as error:
            error_once(f"exporting {self.route.signal}", error)
            delivered, failure = False, losses.EXPORT_FAILED
        if not delivered:
            self.failed_batches += 1
            self.last_failure = failure
        return delivered

    def close_by(self, deadline: float) -> None:
        """From now on, retries stop and deliveries give up at ``deadline`` (time.monotonic); one still
        waiting for an answer then is aborted by a timer. Where the exiting interpreter refuses the timer's
        thread (Python 3.12), :meth:`close` aborts it instead, once the exit's time is spent: a delivery
        from the exiting thread waits for no other past its own deadline (the sinks bound every wait)."""
        self._close_by = deadline
        self._closing.set()
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._abort)
        timer.daemon = True
        start(timer)

    def _abort(self) -> None:
        sink = self._sink
        if sink is not None:
            sink.abort()

    def after_fork_in_child(self) -> None:
        self._renew()

    def _renew(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        if self._sink is not None:
            self._sink.after_fork_in_child(self._closing)

    def pause_for_patching(self) -> None:
        return

    def resume_after_patching(self) -> None:
        """gevent patched: the sender's lock is held across the network, so it must be gevent's."""
        self._renew()

    def close(self) -> None:
        """Refuse further deliveries and release the connection."""
        self._closing.set()
        self._closed = True
        sink = self._sink
        if sink is not None:
            sink.close()


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


class SpanExporterToDestination(SpanExporter):
    """The SDK span exporter interface, encoding straight to protobuf bytes (:mod:`obs.agent._otlp.spans`,
    five times cheaper than the SDK's encoder); one export (retries included) takes at most ``timeout_s``
    (OTEL_BSP_EXPORT_TIMEOUT). :class:`obs.agent._traces.span_queue.SpanQueue` calls :meth:`prepare` as each
    span ends and :meth:`export_prepared` on its thread, which then only joins bytes and sends them."""

    def __init__(self, destination: Destination, timeout_s: float | None = None) -> None:
        self.destination = destination
        self.timeout_s = timeout_s
        self._encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.export_prepared([self._encoder.prepare(span) for span in spans])

    def prepare(self, span: ReadableSpan) -> EncodedSpan:
        return self._encoder.prepare(span)

    def export_prepared(self, spans: Sequence[EncodedSpan]) -> SpanExportResult:
        delivered = self.destination.deliver(SpanEncoder.join(spans), self.timeout_s)
        return SpanExportResult.SUCCESS if delivered else SpanExportResult.FAILURE

    @property
    def last_failure(self) -> str:
        """Why the last export that failed did (a reason of obs.agent._export.losses)."""
        return self.destination.last_failure

    def shutdown(self) -> None:
        self.destination.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class LogExporter(LogRecordExporter):
    """The SDK log exporter interface, plus :meth:`export_serialized` for records already encoded."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        delivered = self.destination.deliver(encode_sdk_logs(batch))
        return LogRecordExportResult.SUCCESS if delivered else LogRecordExportResult.FAILURE

    def export_serialized(self, payload: bytes) -> bool:
        """Deliver a serialized ExportLogsServiceRequest (the logs bridge encodes its records itself)."""
        return self.destination.deliver(payload)

    @property
    def last_failure(self) -> str:
        """Why the last export that failed did (a reason of obs.agent._export.losses)."""
        return self.destination.last_failure

    def shutdown(self) -> None:
        self.destination.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
