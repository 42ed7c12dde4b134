"""What was not exported, by reason: every span and log record is either delivered or counted here.

The queues count; their export threads add the new counts to ``obs.spans.dropped`` / ``obs.logs.dropped``
with a ``reason`` attribute; the pipeline prints one line at exit with the numbers of both
(:func:`exit_line`). Metric data points of an export that failed are counted in ``obs.metrics.dropped`` with
the same reasons, by the metric exporter (:mod:`obs.agent._metrics.sdk`); those of a failed last export, which
no export can carry any more, are in the exit line.
Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Final, Protocol

__all__ = [
    "EXPORT_FAILED",
    "NOT_ANSWERING",
    "QUEUED_AT_EXIT",
    "QUEUE_FULL",
    "REASONS",
    "REFUSED",
    "Lost",
    "exit_line",
]

QUEUE_FULL: Final = "queue_full"
"""The export queue was full when the span ended or the record was made."""
REFUSED: Final = "endpoint_refused"
"""The endpoint answered with an error that retrying will not cure (4xx, a non-transient gRPC error)."""
NOT_ANSWERING: Final = "endpoint_not_answering"
"""No answer: connection refused, timed out, or the endpoint asked to come back (429, 503) too long."""
EXPORT_FAILED: Final = "export_failed"
"""Anything else on the way out: an encoding error, a local file that cannot be written."""
QUEUED_AT_EXIT: Final = "queued_at_exit"
"""Still waiting for export when the exit budget ran out (or made after the agent stopped)."""
REASONS: Final = (QUEUE_FULL, REFUSED, NOT_ANSWERING, EXPORT_FAILED, QUEUED_AT_EXIT)

_WORDS: Final = {
    QUEUE_FULL: "queue full",
    REFUSED: "endpoint refused",
    NOT_ANSWERING: "endpoint not answering",
    EXPORT_FAILED: "export failed",
    QUEUED_AT_EXIT: "still queued at exit",
}


class Adder(Protocol):
    """An OpenTelemetry counter's ``add``."""

    def add(self, amount: int, attributes: Mapping[str, str] | None = None) -> None: ...


class Lost:
    """Counts by reason. ``add`` may be called from any thread; ``report`` adds what is new to a counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._reported: dict[str, int] = {}

    def add(self, reason: str, count: int) -> None:
        if count <= 0:
            return
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + count

    def counts(self, queue_full: int = 0) -> dict[str, int]:
        """Counts by reason, plus ``queue_full`` drops counted without the lock on the app's thread."""
        with self._lock:
            counts = dict(self._counts)
        if queue_full:
            counts[QUEUE_FULL] = counts.get(QUEUE_FULL, 0) + queue_full
        return counts

    def report(self, counter: Adder | None, queue_full: int = 0) -> None:
        """Add the counts since the last report to ``counter``, one ``reason`` attribute per reason."""
        counts = self.counts(queue_full)
        with self._lock:
            deltas = {reason: count - self._reported.get(reason, 0) for reason, count in counts.items()}
            self._reported = counts
        if counter is None:
            return
        for reason, delta in deltas.items():
            if delta > 0:
                counter.add(delta, {"reason": reason})


def _describe(counts: Mapping[str, int], hint: str) -> str:
    total = sum(counts.values())
    parts = [f"{counts[reason]:,} {_WORDS[reason]}" for reason in REASONS if counts.get(reason)]
    if counts.get(QUEUE_FULL):
        parts[0] += f" ({hint})"
    return f"{total:,} ({', '.join(parts)})"


def exit_line(
    spans: Mapping[str, int], logs: Mapping[str, int], span_queue: int, log_queue: int,
    metric_points: int = 0, *, metrics_skipped: bool = False,
) -> str | None:
    """The one line said at exit when something was not exported; None when everything was.
    ``metric_points``: those of the last metric export, which failed; ``metrics_skipped``: the last metric
    export was not tried, the exit's time being spent."""
    found = []
    if sum(spans.values()):
        hint = f"the queue holds {span_queue:,}: raise OTEL_BSP_MAX_QUEUE_SIZE or sample less"
        found.append(f"{_describe(spans, hint).replace(' (', ' spans (', 1)}")
    if sum(logs.values()):
        hint = f"the queue holds {log_queue:,}: raise OTEL_BLRP_MAX_QUEUE_SIZE"
        found.append(f"{_describe(logs, hint).replace(' (', ' log records (', 1)}")
    if metric_points:
        found.append(f"{metric_points:,} metric points (the last export failed)")
    elif metrics_skipped:
        found.append("the last metrics (no time left at exit to export them)")
    if not found:
        return None
    return (f"obs: not exported: {'; '.join(found)}; counted in obs.spans.dropped and obs.logs.dropped "
            "by reason")
