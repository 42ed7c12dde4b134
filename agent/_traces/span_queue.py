"""Traces: a span queue that never makes the app wait.

Why not the SDK's BatchSpanProcessor: its ``force_flush`` exports on the caller's thread with no time limit,
a full queue only logs a (de-duplicated) warning, and its thread starts with the processor even in processes
that never make a span. Here ``on_end`` appends to a deque or counts a drop (``obs.spans.dropped``); the
export thread starts with the first span; flush and shutdown wait at most the time they are given. An
exporter that can encode a span by itself (:class:`PreparingExporter`) does so in ``on_end``, so the export
thread hardly needs the GIL (see obs.agent._otlp.spans.SpanEncoder for why that matters).
``OTEL_BSP_*`` set the delay, queue and batch sizes and the export timeout (read in obs.agent._config.limits).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from obs.agent._compat import end_suppression, suppress_instrumentation
from obs.agent._config.limits import BatchLimits
from obs.agent._export import losses
from obs.agent._support.fork import STATE, at_fork_weakly
from obs.agent._support.greenlets import join_quietly, register
from obs.agent._support.report import error_once
from obs.agent._support.threads import start
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["PreparingExporter", "SpanQueue"]


@runtime_checkable
class PreparingExporter(Protocol):
    """A span exporter that can turn each span into its export form as the span ends."""

    def prepare(self, span: ReadableSpan) -> Any: ...

    def export_prepared(self, spans: Sequence[Any]) -> object: ...


class SpanQueue(SpanProcessor):
    """Sampled spans wait in a bounded deque; one thread exports them in batches."""

    def __init__(self, exporter: SpanExporter, limits: BatchLimits) -> None:
        self._exporter = exporter
        self._preparing = exporter if isinstance(exporter, PreparingExporter) else None
        self._limits = limits
        self._counter: losses.Adder | None = None
        self._closed = False
        self._reset()
        register(self)
        at_fork_weakly(STATE, self, after_in_child="_after_fork_in_child")

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        """Spans, or what the preparing exporter made of them."""
        self._wake = threading.Event()
        """Made again with the thread (:meth:`_start`), as is ``_idle``: under gevent, by then patched."""
        self._idle = threading.Condition(threading.Lock())
        self._pausing = False
        self._flush_asked = 0
        self._flush_done = 0
        self._dropped = 0
        """Spans turned away because the queue was full (counted without a lock, on the app's threads)."""
        self._in_flight = 0
        """Spans of the batch the export thread is delivering now."""
        self._lost = losses.Lost()
        """Every other span not exported, by reason."""
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def dropped(self) -> int:
        """Spans turned away because the queue was full."""
        return self._dropped

    @property
    def limits(self) -> BatchLimits:
        return self._limits

    def lost(self) -> dict[str, int]:
        """Spans not exported so far, by reason (obs.agent._export.losses). Once closed, spans the export
        thread still holds (queued, or in a delivery that outlived the exit's budget) count as queued at
        exit: the thread is a daemon and ends with the process."""
        counts = self._lost.counts(self._dropped)
        thread = self._thread
        if self._closed and thread is not None and thread.is_alive():
            pending = len(self._queue) + self._in_flight
            if pending:
                counts[losses.QUEUED_AT_EXIT] = counts.get(losses.QUEUED_AT_EXIT, 0) + pending
        return counts

    def count_drops_with(self, counter: losses.Adder) -> None:
        """Report spans not exported to ``counter`` (obs.spans.dropped), by reason, from the export thread."""
        self._counter = counter

    def _after_fork_in_child(self) -> None:
        """The parent exports what it queued; the child starts empty and starts its thread when needed."""
        self._reset()

    # -- the app's threads ---------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        if self._closed:
            self._lost.add(losses.QUEUED_AT_EXIT, 1)  # ended after the agent stopped
            return
        queue = self._queue
        if len(queue) >= self._limits.max_queue_size:
            self._dropped += 1
            return
        preparing = self._preparing
        if preparing is None:
            queue.append(span)
        else:
            try:
                queue.append(preparing.prepare(span))
            except Exception as error:  # an unencodable span is left out, never raised into the app
                error_once("encoding a span", error)
                self._lost.add(losses.EXPORT_FAILED, 1)
                return
        if self._thread is None:
            self._start()
        elif len(queue) >= self._limits.max_export_batch_size:
            self._wake.set()

    def _start(self) -> None:
        """Start the export thread (once); where the exiting interpreter refuses it, spans wait in the queue
        for the flush at exit, which exports them itself (:meth:`flush`). The lock is not held across the
        start: under gevent that switches to another greenlet, which may end a span and come here. The
        thread's own primitives are made now, after any patching (obs.agent._support.greenlets)."""
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            self._wake = threading.Event()
            self._idle = threading.Condition(threading.Lock())
            thread = self._thread = threading.Thread(target=self._run, name="obs-span-export", daemon=True)
        if not start(thread):
            self._thread = None

    # -- the export thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        suppress_instrumentation()
        delay = self._limits.schedule_delay_ms / 1000.0
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            with self._idle:
                asked = self._flush_asked
            self._export_queued()
            with self._idle:
                self._flush_done = asked
                self._idle.notify_all()
            if self._closed or self._pausing:
                return

    def _export_queued(self) -> None:
        """Export what is queued; each span is delivered or counted as lost. Once closed, what is left is
        counted as still queued at exit (the destination refuses it anyway)."""
        queue = self._queue
        size = self._limits.max_export_batch_size
        while queue:
            if self._closed:
                left = 0
                while queue:
                    queue.popleft()
                    left += 1
                self._lost.add(losses.QUEUED_AT_EXIT, left)
                break
            batch: list[Any] = []
            while queue and len(batch) < size:
                batch.append(queue.popleft())
            result: object
            self._in_flight = len(batch)
            try:
                if self._preparing is None:
                    result = self._exporter.export(batch)
                else:
                    result = self._preparing.export_prepared(batch)
                reason = getattr(self._exporter, "last_failure", losses.EXPORT_FAILED)
            except Exception as error:
                error_once("exporting spans", error)
                result, reason = None, losses.EXPORT_FAILED
            finally:
                self._in_flight = 0
            if result is not SpanExportResult.SUCCESS:
                self._lost.add(reason, len(batch))
        try:
            self._lost.report(self._counter, self._dropped)
        except Exception as error:
            error_once("counting spans not exported", error)

    # -- gevent (obs.agent._support.greenlets) -------------------------------------------------------

    def pause_for_patching(self) -> None:
        """The thread exports what is queued and ends; the next span starts another (a greenlet then)."""
        thread = self._thread
        if thread is None:
            return
        self._pausing = True
        self._wake.set()
        join_quietly(thread)
        self._thread = None

    def resume_after_patching(self) -> None:
        self._pausing = False
        if self._queue:
            self._start()

    # -- flush and shutdown --------------------------------------------------------------------------------

    def flush(self, timeout_s: float) -> bool:
        """Export every span ended before this call; wait at most ``timeout_s``. True when all went out."""
        if self._thread is None:
            if not self._queue:
                return True
            self._start()
            if self._thread is None:
                return self._export_here()
        deadline = time.monotonic() + timeout_s
        with self._idle:
            self._flush_asked += 1
            target = self._flush_asked
            self._wake.set()
            while self._flush_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._idle.wait(remaining)
        return True

    def _export_here(self) -> bool:
        """No export thread (the interpreter is exiting and refused it): export on the calling thread; each
        delivery gives up at the exit's deadline
        (:meth:`~obs.agent._export.destination.Destination.close_by`)."""
        token = suppress_instrumentation()
        try:
            self._export_queued()
        except Exception as error:
            error_once("exporting spans", error)
        finally:
            end_suppression(token)
        return not self._queue

    def close(self, timeout_s: float) -> bool:
        """Stop taking spans, export what is queued within ``timeout_s``, stop the thread (what it did
        not export by then is counted as still queued at exit; see :meth:`settle`). Idempotent."""
        if self._closed:
            return True
        flushed = self.flush(timeout_s)
        self._closed = True
        self._wake.set()
        self._exporter.shutdown()  # aborts a delivery in flight: the thread then ends at once
        if self._thread is None and self._queue:
            self._export_queued()
        return flushed

    def settle(self, timeout_s: float) -> None:
        """After :meth:`close`: wait at most ``timeout_s`` for the export thread to end, so that every span
        is delivered or counted. Called last at exit, when the thread has had the other signals' time."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.flush(timeout_millis / 1000.0)

    def shutdown(self) -> None:
        self.close(0.0)

