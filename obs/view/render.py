"""The report as plain text for a terminal: aligned columns, span trees, one log per line, no colours."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from obs.agent.catalog import (
    HTTP_SERVER_DURATION,
    LOGS_DROPPED,
    METRICS_DROPPED,
    TASK_DURATION,
    TASK_QUEUE_WAIT,
)
from obs.view.errors import scrub
from obs.view.model import KIND_NAMES, LogEntry, SpanRecord
from obs.view.report import Report
from obs.view.routes import PERCENTILES, RouteStats
from obs.view.traces import SpanNode, Trace

__all__ = ["Style", "render"]

_HIDDEN_LOG_KEYS: Final = ("code.", "logger.name", "exception.stacktrace", "thread.", "process.")


@dataclass(frozen=True)
class Style:
    """How much room there is, and whether the terminal can draw box characters."""

    width: int = 120
    unicode: bool = True

    @property
    def branch(self) -> tuple[str, str, str, str]:
        """(child, last child, continuing line, blank) prefixes of the span trees."""
        return ("├─ ", "└─ ", "│  ", "   ") if self.unicode else ("|- ", "`- ", "|  ", "   ")

    def fit(self, line: str) -> str:
        if len(line) <= self.width:
            return line
        return line[: max(0, self.width - 1)] + ("…" if self.unicode else "~")


def render(report: Report, style: Style) -> str:
    """The whole view: header, routes, slowest and failed traces, recent logs, then anything worth a note."""
    blocks = [
        _header(report),
        _looked_up(report, style),
        _errors(report),
        _routes(report),
        _tasks(report),
        _traces("Slowest traces", report.slowest, report.trace_count, style),
        _traces("Failed traces", report.failed, report.failed_count, style),
        _logs(report),
        _notes(report),
    ]
    lines = [line for block in blocks for line in [*block, ""] if block]
    return "\n".join(style.fit(line) for line in lines).rstrip() + "\n"


def duration(seconds: float | None) -> str:
    """A duration at a precision that reads well: 0.42 ms, 4.8 ms, 52 ms, 1.25 s."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def _period(seconds: float) -> str:
    """A stretch of time: 0.4 s, 42 s, 12 min, 3.5 h."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _clock(time_ns: int, with_date: bool = False) -> str:
    moment = datetime.fromtimestamp(time_ns / 1e9)
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S.%f")
    return text if with_date else text[:-3]


def _header(report: Report) -> list[str]:
    services = sorted({origin.service for origin in report.origins})
    processes = len({origin for origin in report.origins})
    who = ", ".join(services) or "no service"
    line = f"obs view: {report.directory}  ·  {who} ({processes} process{'es' if processes != 1 else ''})"
    start, end = report.window_ns
    if end > start:
        line += f"  ·  {_clock(start, True)} to {_clock(end, True)[11:]} ({_period((end - start) / 1e9)})"
    return [line]


def _looked_up(report: Report, style: Style) -> list[str]:
    wanted = report.options.trace_id
    if not wanted:
        return []
    if report.looked_up is None:
        return [f"Trace {wanted}: not found in these files."]
    return _traces("Trace", [report.looked_up], 1, style)


def _errors(report: Report) -> list[str]:
    """The error groups, most frequent first: count, type, where, operation, first and last seen; below each,
    a sample trace (``obs view --trace ID`` shows it) and the message."""
    if not report.errors:
        return ["Errors: none."]
    shown = report.errors[: report.options.errors]
    total = sum(group.count for group in report.errors)
    head = f"Errors  ({len(report.errors)} group{'s' if len(report.errors) != 1 else ''}, {total} failures"
    head += f"; the {len(shown)} most frequent)" if len(shown) < len(report.errors) else ")"
    kinds = max(len("type"), *(len(group.type) for group in shown))
    wheres = max(len("where"), *(len(group.where) for group in shown))
    operations = max(len("operation"), *(len(group.operation or "-") for group in shown))
    lines = [
        head,
        f"  {'count':>6}  {'type':<{kinds}}  {'where':<{wheres}}  {'operation':<{operations}}  "
        f"{'first seen':<19}  last seen",
    ]
    for group in shown:
        first = _clock(group.first_ns, True) if group.first_ns else "-"
        last = _clock(group.last_ns, True) if group.last_ns else "-"
        lines.append(
            f"  {group.count:>6}  {group.type:<{kinds}}  {group.where:<{wheres}}  "
            f"{group.operation or '-':<{operations}}  {first:<19}  {last}"
        )
        message = _short(" ".join(group.message.split()), 200) if group.message else ""
        lines.append(f"  {'':>6}  trace {group.trace_id or '-':<32}  {message}".rstrip())
    lines.append("  (a sample trace, whole: obs view --trace <id>)")
    return lines


def _routes(report: Report) -> list[str]:
    if not report.routes:
        return ["Routes: no HTTP server requests recorded."]
    start, end = report.window_ns
    seconds = max((end - start) / 1e9, 1e-9)
    source = f"the {HTTP_SERVER_DURATION.name} histogram" if report.routes_from_metrics else "server spans"
    names = [f"p{round(q * 100)}" for q in PERCENTILES]
    width = max(len("route"), *(len(stats.key.label) for stats in report.routes))
    lines = [
        f"Routes  (counts from {source}, rates averaged over {_period(seconds)})",
        f"  {'route':<{width}}  {'requests':>8}  {'req/s':>6}  {'errors':>6}  "
        + "  ".join(f"{name:>8}" for name in names),
    ]
    lines.extend(_route_line(stats, width, seconds) for stats in report.routes)
    if not all(stats.exact for stats in report.routes):
        lines.append("  ~ interpolated within the histogram's buckets (not every request was traced); "
                     "other latencies are exact, from the spans")
    return lines


_WAIT_PERCENTILES = (0.5, 0.95)
"""The queue-wait percentiles shown beside a task's run time."""


def _tasks(report: Report) -> list[str]:
    """Celery tasks beside the routes, when a worker recorded any: runs, failures, run time, and the time
    tasks waited between publication and start (``-`` where no worker recorded it)."""
    if not report.tasks:
        return []
    start, end = report.window_ns
    seconds = max((end - start) / 1e9, 1e-9)
    names = [f"p{round(q * 100)}" for q in PERCENTILES]
    waits = [f"wait p{round(q * 100)}" for q in _WAIT_PERCENTILES]
    width = max(len("task"), *(len(stats.key.route) for stats in report.tasks))
    lines = [
        f"Tasks  (runs from the {TASK_DURATION.name} histogram, run time and queue wait within buckets)",
        f"  {'task':<{width}}  {'runs':>8}  {'runs/s':>6}  {'failed':>6}  "
        + "  ".join(f"{name:>8}" for name in names) + "  " + "  ".join(f"{name:>9}" for name in waits),
    ]
    for stats in report.tasks:
        values = "  ".join(f"{_approximate(v):>8}" for v in stats.percentiles)
        found = report.task_waits.get(stats.key.route)
        wait = [found[PERCENTILES.index(q)] if found else None for q in _WAIT_PERCENTILES]
        failed = f"{stats.error_ratio:.0%}" if stats.errors else "0"
        lines.append(f"  {stats.key.route:<{width}}  {stats.requests:>8}  {stats.requests / seconds:>6.2f}  "
                     f"{failed:>6}  {values}  " + "  ".join(f"{_approximate(v):>9}" for v in wait))
    lines.append(f"  wait: from publication to start ({TASK_QUEUE_WAIT.name}); - where no worker recorded it")
    return lines


def _approximate(seconds: float | None) -> str:
    """A duration interpolated within a histogram's buckets, marked ``~``; ``-`` for none."""
    return "-" if seconds is None else "~" + duration(seconds)


def _route_line(stats: RouteStats, width: int, seconds: float) -> str:
    mark = "" if stats.exact else "~"
    values = "  ".join(f"{mark + duration(v) if v is not None else '-':>8}" for v in stats.percentiles)
    errors = f"{stats.error_ratio:.0%}" if stats.errors else "0"
    rate = stats.requests / seconds
    return f"  {stats.key.label:<{width}}  {stats.requests:>8}  {rate:>6.2f}  {errors:>6}  {values}"


def _traces(title: str, traces: list[Trace], total: int, style: Style) -> list[str]:
    if not traces:
        return [f"{title}: none."] if title.startswith("Slowest") or total == 0 else []
    lines = [f"{title}  ({len(traces)} of {total})"]
    for trace in traces:
        summary = trace.summary
        service = summary.origin.service if summary.origin else "?"
        lines.append(
            f"  trace {summary.trace_id}  {summary.root}  ·  {duration(summary.duration_ns / 1e9)}"
            f"  ·  {service}  ·  {_clock(summary.start_ns)}"
        )
        lines.append(f"    {'start':>9} {'duration':>9}")
        for root in trace.roots:
            lines.extend(_tree(root, summary.start_ns, service, "", "", style))
    return lines


def _tree(node: SpanNode, origin_ns: int, service: str, lead: str, rest: str, style: Style) -> Iterator[str]:
    span = node.span
    offset = duration((span.start_ns - origin_ns) / 1e9)
    where = f"  @{span.origin.service}" if span.origin.service != service else ""
    yield f"    {offset:>9} {duration(span.duration_ns / 1e9):>9}  {lead}{span.name}  {_details(span)}{where}"
    for problem in _problems(span):
        yield f"    {'':>9} {'':>9}  {rest}{'!':<3}{problem}"
    child_lead, last_lead, going_on, blank = style.branch
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        lead = rest + (last_lead if last else child_lead)
        yield from _tree(child, origin_ns, service, lead, rest + (blank if last else going_on), style)


def _details(span: SpanRecord) -> str:
    found = span.attributes
    parts = [KIND_NAMES.get(span.kind, "span")]
    status = found.get("http.response.status_code")
    if status is not None:
        parts.append(str(status))
    system = found.get("db.system.name") or found.get("db.system")
    if system:
        parts.append(str(system))
        query = found.get("db.query.text") or found.get("db.statement")
        if query:
            parts.append(_short(" ".join(str(query).split()), 60))
    url = found.get("url.full")
    if url and not span.is_server:
        parts.append(str(url))
    return " ".join(parts)


def _problems(span: SpanRecord) -> Iterator[str]:
    """What went wrong in a span: its exceptions, else its error status message."""
    exceptions = [event for event in span.events if event.name == "exception"]
    for event in exceptions:
        kind = event.attributes.get("exception.type", "exception")
        yield scrub(f"{kind}: {event.attributes.get('exception.message', '')}".rstrip(": "))
    if not exceptions and span.status_code == 2 and span.status_message:
        yield scrub(span.status_message)


def _logs(report: Report) -> list[str]:
    if not report.logs:
        return ["Recent logs: none."]
    services = len({entry.origin.service for entry in report.logs}) > 1
    lines = [f"Recent logs  ({len(report.logs)} of {report.log_count}, with the trace each was written in)"]
    lines.extend(_log_line(entry, services) for entry in report.logs)
    return lines


def _log_line(entry: LogEntry, with_service: bool) -> str:
    trace = entry.trace_id if entry.trace_id.strip("0") else "-"
    service = f"{entry.origin.service}  " if with_service else ""
    extras = _extras(entry.attributes)
    body = " ".join(entry.body.split()) if "\n" in entry.body else entry.body
    return f"  {_clock(entry.time_ns)}  {entry.severity:<5}  {trace:<32}  {service}{body}{extras}"


def _extras(found: Mapping[str, Any]) -> str:
    shown = [f"{key}={value}" for key, value in found.items()
             if not key.startswith(_HIDDEN_LOG_KEYS) and not key.startswith("exception.")]
    kind = found.get("exception.type")
    if kind:
        shown.append(scrub(f"{kind}: {found.get('exception.message', '')}".rstrip(": ")))
    return "  " + "  ".join(shown) if shown else ""


_DROPPED_WHAT = {LOGS_DROPPED.name: "log records", METRICS_DROPPED.name: "metric points"}


def _notes(report: Report) -> list[str]:
    notes: list[str] = []
    for name, count in sorted(report.dropped.items()):
        if count:
            what = _DROPPED_WHAT.get(name, "spans")
            notes.append(f"note: the agent did not export {count} {what} (see {name}, by reason)")
    if report.skipped:
        first = report.skipped[0]
        notes.append(
            f"note: skipped {len(report.skipped)} unreadable line(s), first {first.path.name}:{first.line}: "
            f"{first.reason}"
        )
    return notes


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
