"""Logs: stdlib logging, loguru and structlog records become OpenTelemetry logs; the console stays parseable.

The agent core calls :func:`start_logs` once per process and keeps the :class:`LogsHandle` to flush and shut
down. Modules:

- ``records``: the compact record the app thread queues, and its conversion to SDK records
- ``otlp``: direct OTLP encoding of compact records, for exporters that take serialized requests
- ``processor``: the bounded queue, the export thread, drop accounting, fork handling
- ``stdlib``: the stdlib logging bridge (``Logger.callHandlers``), last-resort output untouched; without it,
  a record factory that only hands logged exceptions to the error groups (:mod:`obs.agent._errors`)
- ``loguru_bridge``: the loguru bridge (core patcher, import hook), loaded only if the app uses loguru
- ``structlog_bridge``: the structlog bridge (wraps its last processor), attached when the app imports it
- ``console``: the trace id on console lines written inside a span (a JSON field, else `` trace_id=...``)
"""

from __future__ import annotations

import sys
from typing import Final, Protocol

from obs.agent._compat import LoggerProvider, LogRecordExporter, set_logger_provider
from obs.agent._config.limits import BatchLimits
from obs.agent._export.losses import exit_line
from obs.agent._logs.console import StdlibConsole
from obs.agent._logs.loguru_bridge import LoguruBridge
from obs.agent._logs.processor import ExportQueue, Losses
from obs.agent._logs.records import Record
from obs.agent._logs.stdlib import StdlibBridge, StdlibErrors
from obs.agent._logs.structlog_bridge import StructlogBridge
from obs.agent.settings import Settings
from opentelemetry.metrics import Counter
from opentelemetry.sdk.resources import Resource

__all__ = ["LEVELS", "LogsHandle", "start_logs"]

LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
"""``settings.log_level`` as a level number; applies to stdlib and loguru records (same numbers)."""

_SETTLE_S: Final = 0.2
"""How long a standalone shutdown waits for the export thread before it counts (its delivery in flight
was aborted: milliseconds, as a rule)."""

ACCESS_LOGGERS = frozenset({"uvicorn.access", "gunicorn.access", "hypercorn.access", "granian.access"})
"""Servers' access loggers: not exported unless ``capture_access_logs`` (each line says again what the server
span and the RED metrics already hold, and exporting them added memory and time to every request of the
FastAPI example). Their console output is untouched."""


class _Part(Protocol):
    def uninstall(self) -> None: ...


class LogsHandle:
    """What the agent core keeps: flush at will, shut down once at exit."""

    def __init__(
        self, provider: LoggerProvider | None, queue: ExportQueue | None, parts: list[_Part]
    ) -> None:
        self._provider = provider
        self._queue = queue
        self._parts = parts
        self._closed = False

    @property
    def max_queue(self) -> int:
        return self._queue.limits.max_queue_size if self._queue is not None else 0

    @property
    def losses(self) -> Losses:
        """Records not exported so far: dropped (queue full), failed at the exporter, still queued."""
        return self._queue.losses() if self._queue is not None else Losses(0, 0, 0)

    def flush(self, timeout_s: float) -> None:
        """Export every record made before this call, waiting at most ``timeout_s``."""
        if self._queue is not None and not self._closed:
            self._queue.flush(timeout_s)

    def shutdown(self, timeout_s: float, *, say_losses: bool = True) -> None:
        """Detach the bridges, export what is queued within ``timeout_s``, shut the exporter down.

        What was lost is then in :attr:`losses`, and said in one line on stderr unless ``say_losses`` is
        false (the agent core says it in its own exit line, with the spans). Idempotent. Call it before the
        meter provider's shutdown so that the last obs.logs.dropped count is exported.
        """
        if self._closed:
            return
        self._closed = True
        for part in reversed(self._parts):
            part.uninstall()
        if self._queue is None or self._provider is None:
            return
        self._queue.close(timeout_s)
        self._provider.shutdown()
        if not say_losses:
            return
        self.settle(_SETTLE_S)
        line = exit_line({}, self.losses.by_reason or {}, 0, self.max_queue)
        if line is not None:
            print(line, file=sys.stderr, flush=True)

    def settle(self, timeout_s: float) -> None:
        """After :meth:`shutdown`: wait at most ``timeout_s`` for the export thread, so that :attr:`losses`
        counts every record (delivered, or lost with its reason)."""
        if self._queue is not None:
            self._queue.settle(timeout_s)


def start_logs(
    settings: Settings,
    resource: Resource,
    exporter: LogRecordExporter | None,
    dropped_counter: Counter,
    limits: BatchLimits,
) -> LogsHandle:
    """Start the log pipeline and the bridges the settings ask for; ``exporter=None`` exports nothing. The
    exceptions logged at ERROR still reach the error groups then (unless ``error_groups`` is off).

    ``limits`` are the queue's (``OTEL_BLRP_*``, checked with the rest of the configuration at boot:
    :func:`obs.agent._config.limits.log_limits`). Takes ownership of ``exporter``: :meth:`LogsHandle.shutdown`
    shuts it down. An exporter with ``export_serialized(payload: bytes) -> bool`` receives requests the bridge
    encoded itself (the fast path) and is trusted to report its own delivery failures (see
    :mod:`obs.agent._logs.otlp`).
    """
    threshold = LEVELS[settings.log_level]
    provider: LoggerProvider | None = None
    queue: ExportQueue | None = None
    parts: list[_Part] = []
    if exporter is not None:
        provider = sdk_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        queue = ExportQueue(exporter, lambda: sdk_provider.resource, limits, dropped_counter)
        provider.add_log_record_processor(queue)
        set_logger_provider(provider)
        if settings.capture_logging:
            skipped = frozenset() if settings.capture_access_logs else ACCESS_LOGGERS
            stdlib = StdlibBridge(queue.submit, threshold, skipped)
            stdlib.install()
            parts.append(stdlib)
    if settings.error_groups and not (queue is not None and settings.capture_logging):
        errors = StdlibErrors()  # logged exceptions are failures whether their records are exported or not
        errors.install()
        parts.append(errors)
    if settings.console_trace_ids:
        console = StdlibConsole()
        console.install()
        parts.append(console)
    loguru = LoguruBridge(
        queue.submit if queue is not None else _discard,
        threshold,
        capture=queue is not None and settings.capture_loguru,
        console=settings.console_trace_ids,
        errors=settings.error_groups,
    )
    loguru.install()
    parts.append(loguru)
    structlog = StructlogBridge(
        queue.submit if queue is not None else _discard,
        threshold,
        capture=queue is not None and settings.capture_logging,
        console=settings.console_trace_ids,
    )
    structlog.install()
    parts.append(structlog)
    return LogsHandle(provider, queue, parts)


def _discard(record: Record) -> None:
    """The submit function when there is no exporter: the loguru bridge then only adds console trace ids."""
