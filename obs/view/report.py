"""Read a telemetry folder once into a :class:`Report`: the routes, the traces worth showing, recent logs."""

from __future__ import annotations

import base64
import heapq
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from obs.agent.catalog import (
    HTTP_SERVER_DURATION,
    LOGS_DROPPED,
    METRICS_DROPPED,
    SPANS_DROPPED,
    TASK_DURATION,
    TASK_QUEUE_WAIT,
)
from obs.view.errors import ErrorGroup, ErrorTable
from obs.view.files import SkippedLine, TelemetryDir
from obs.view.model import LogEntry, Origin, SpanRecord, histogram_points, log_entries, spans, sum_points
from obs.view.routes import RouteStats, RouteTable, SpanDurations, stats_from_spans, task_failed, task_key
from obs.view.traces import Trace, TraceIndex, build_trees

__all__ = ["Options", "Report", "read_report"]


@dataclass(frozen=True)
class Options:
    since_ns: int = 0
    service: str | None = None
    traces: int = 3
    logs: int = 15
    errors: int = 10
    trace_id: str | None = None
    """A trace to show whole (``obs view --trace``), e.g. an error group's sample."""


@dataclass
class Report:
    directory: Path
    options: Options
    routes: list[RouteStats] = field(default_factory=list)
    routes_from_metrics: bool = False
    tasks: list[RouteStats] = field(default_factory=list)
    """Celery tasks run by the workers (``celery.task.duration``): runs, failures, run-time percentiles."""
    task_waits: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    """Queue-wait percentiles (:data:`~obs.view.routes.PERCENTILES`) by task name, from
    ``celery.task.queue_wait`` (publish to start), for the tasks whose workers recorded it."""
    window_ns: tuple[int, int] = (0, 0)
    origins: set[Origin] = field(default_factory=set)
    trace_count: int = 0
    failed_count: int = 0
    slowest: list[Trace] = field(default_factory=list)
    failed: list[Trace] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    log_count: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedLine] = field(default_factory=list)
    errors: list[ErrorGroup] = field(default_factory=list)
    """Every error group with failures in the window, most frequent first."""
    looked_up: Trace | None = None
    """The trace ``options.trace_id`` names, when found."""

    @property
    def empty(self) -> bool:
        return not (self.routes or self.tasks or self.trace_count or self.log_count or self.errors)


def read_report(directory: Path, options: Options) -> Report:
    """Everything ``obs view`` shows, read from ``directory`` within the options' window and service."""
    files = TelemetryDir(directory)
    report = Report(directory, options)
    tasks = RouteTable(since_ns=options.since_ns, key=task_key, failed=task_failed)
    waits = RouteTable(since_ns=options.since_ns, key=task_key, failed=task_failed)
    errors = ErrorTable(since_ns=options.since_ns)
    table = _read_metrics(files, options, report, (tasks, waits), errors)
    index, durations = _read_traces(files, options, report, errors)
    if not table.empty:
        report.routes, report.routes_from_metrics = table.stats(durations), True
    elif durations.durations:
        report.routes = stats_from_spans(durations)
    report.tasks = tasks.stats(SpanDurations())
    report.task_waits = {stats.key.route: stats.percentiles for stats in waits.stats(SpanDurations())}
    report.window_ns = _window(table, index, tasks)
    _read_logs(files, options, report, errors)
    report.errors = errors.groups()
    if options.trace_id:
        report.looked_up = _look_up(files, options.trace_id.lower())
    report.skipped = files.skipped
    return report


def _look_up(files: TelemetryDir, trace_id: str) -> Trace | None:
    """One trace, whole, whatever the window and service (it may span services)."""
    members = [span for request in files.traces(_id_texts({trace_id})) for span in spans(request)
               if span.trace_id == trace_id]
    if not members:
        return None
    index = TraceIndex()
    for span in members:
        index.add(span)
    return Trace(index.summaries[trace_id], build_trees(members))


def _read_metrics(
    files: TelemetryDir, options: Options, report: Report, tasks: tuple[RouteTable, RouteTable],
    errors: ErrorTable,
) -> RouteTable:
    """The HTTP server duration histogram into a route table, the task run-time and queue-wait histograms into
    ``tasks``, the agent's drop counters into the report, the error groups into ``errors``."""
    table = RouteTable(since_ns=options.since_ns)
    dropped: dict[tuple[str, Origin, int, tuple[tuple[str, str], ...]], float] = {}
    runs, waits = tasks
    histograms = (
        (HTTP_SERVER_DURATION.name, table), (TASK_DURATION.name, runs), (TASK_QUEUE_WAIT.name, waits),
    )
    for metrics in files.metrics():
        errors.add_metrics(metrics, lambda origin: _wanted(origin, options))
        for name, into in histograms:
            for point in histogram_points(metrics, name):
                if _wanted(point.origin, options):
                    into.add(point)
                    report.origins.add(point.origin)
        for name in (LOGS_DROPPED.name, SPANS_DROPPED.name, METRICS_DROPPED.name):
            for origin, start_ns, cumulative, value, series in sum_points(metrics, name):
                if _wanted(origin, options):
                    key = (name, origin, start_ns, series)
                    before = dropped.get(key, 0.0)
                    dropped[key] = max(before, value) if cumulative else before + value
    for (name, _origin, _start, _series), value in dropped.items():
        report.dropped[name] = report.dropped.get(name, 0) + int(value)
    return table


def _read_traces(
    files: TelemetryDir, options: Options, report: Report, errors: ErrorTable
) -> tuple[TraceIndex, SpanDurations]:
    """Summaries of every trace (first pass), then the spans of the ones shown (second pass)."""
    index, durations = TraceIndex(), SpanDurations()
    for span in _spans(files, options):
        index.add(span)
        if span.events:
            errors.add_span(span)
        report.origins.add(span.origin)
        if span.is_server:
            durations.add(span)
    slowest, failed = index.slowest(options.traces), index.failed(options.traces)
    members: dict[str, list[SpanRecord]] = {s.trace_id: [] for s in [*slowest, *failed]}
    if members:
        for span in _spans(files, options, mentioning=_id_texts(set(members))):
            if span.trace_id in members:
                members[span.trace_id].append(span)
    report.slowest = [Trace(s, build_trees(members[s.trace_id])) for s in slowest]
    report.failed = [Trace(s, build_trees(members[s.trace_id])) for s in failed]
    report.trace_count, report.failed_count = len(index.summaries), index.failed_count
    return index, durations


def _read_logs(files: TelemetryDir, options: Options, report: Report, errors: ErrorTable) -> None:
    """Count the log records in the window and keep the newest ``options.logs``, oldest first."""
    recent: list[tuple[int, int, LogEntry]] = []
    for request in files.logs():
        for entry in log_entries(request):
            if entry.time_ns < options.since_ns or not _wanted(entry.origin, options):
                continue
            errors.add_log(entry)
            report.log_count += 1
            report.origins.add(entry.origin)
            item = (entry.time_ns, report.log_count, entry)
            if len(recent) < options.logs:
                heapq.heappush(recent, item)
            elif options.logs:
                heapq.heappushpop(recent, item)
    report.logs = [entry for _time, _order, entry in sorted(recent)]


def _window(table: RouteTable, index: TraceIndex, tasks: RouteTable) -> tuple[int, int]:
    """From the first to the last moment any metric series or span covers: what rates are averaged over."""
    starts = [s.start_ns for s in index.summaries.values()]
    ends = [s.end_ns for s in index.summaries.values()]
    for histogram in (table, tasks):
        if not histogram.empty:
            starts.append(histogram.first_ns)
            ends.append(histogram.last_ns)
    return (min(starts), max(ends)) if starts else (0, 0)


def _wanted(origin: Origin, options: Options) -> bool:
    return options.service is None or origin.service == options.service


def _id_texts(trace_ids: set[str]) -> set[str]:
    """How the trace ids can appear in a line: hex (OTLP JSON), or base64 (protobuf's plain JSON mapping)."""
    as_base64 = {base64.b64encode(bytes.fromhex(trace_id)).decode("ascii") for trace_id in trace_ids}
    return trace_ids | as_base64


def _spans(files: TelemetryDir, options: Options, mentioning: Collection[str] = ()) -> Iterator[SpanRecord]:
    return (
        span
        for request in files.traces(mentioning)
        for span in spans(request)
        if span.start_ns >= options.since_ns and _wanted(span.origin, options)
    )
