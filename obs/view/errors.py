"""The Errors section: the agent's error groups (``obs.errors`` and its first/last seen gauges), each with a
message and a sample trace found in the same files.

Counts come from the counter, so they include failures whose traces were sampled away. Within ``--since``, a
group counts what its cumulative series grew by after that moment. The message is the sample failure's (a
span's exception event or a log record with the same trace id and type), else any failure's of that type,
with secrets taken out (:func:`scrub`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from obs.agent._support.scrub import scrub_text
from obs.agent.catalog import ERROR_GROUP_ATTRIBUTES, ERRORS, ERRORS_FIRST_SEEN, ERRORS_LAST_SEEN
from obs.view.model import LogEntry, Origin, SpanRecord, gauge_points, sum_series

__all__ = ["ErrorGroup", "ErrorTable", "GroupKey", "scrub"]

GroupKey = tuple[str, str, str]
"""(exception type, function, operation), as the agent groups them."""

def scrub(text: str) -> str:
    """``text`` as obs shows it: URL credentials, secret query parameters and bearer tokens replaced by the
    agent's scrubber (:func:`obs.agent._support.scrub.scrub_text`; the agent already scrubbed what it wrote,
    this covers files written by other tools or older versions)."""
    return scrub_text(text)


@dataclass
class ErrorGroup:
    type: str
    where: str
    operation: str
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    trace_id: str = ""
    message: str = ""
    sample_message: bool = False
    """Whether ``message`` is the sample trace's own (not just one of the same type)."""


@dataclass
class _Series:
    latest_ns: int = -1
    latest: float = 0.0
    before_ns: int = -1
    before: float = 0.0
    delta_sum: float = 0.0


@dataclass
class ErrorTable:
    """Fed metrics requests, then spans and logs; :meth:`groups` gives the groups, most frequent first."""

    since_ns: int = 0
    _series: dict[tuple[Origin, GroupKey, int], _Series] = field(default_factory=dict)
    _first: dict[GroupKey, float] = field(default_factory=dict)
    _last: dict[GroupKey, tuple[float, str]] = field(default_factory=dict)
    _messages: dict[str, tuple[str, str]] = field(default_factory=dict)
    """exception type -> (trace id, message) of any failure of that type."""
    _by_trace: dict[tuple[str, str], str] = field(default_factory=dict)
    """(trace id, exception type) -> message."""

    def add_metrics(self, request: ExportMetricsServiceRequest, wanted: Callable[[Origin], bool]) -> None:
        for origin, found, start_ns, time_ns, cumulative, value in sum_series(request, ERRORS.name):
            if not wanted(origin):
                continue
            series = self._series.setdefault((origin, _key(found), start_ns), _Series())
            if not cumulative:
                if time_ns >= self.since_ns:
                    series.delta_sum += value
                series.latest_ns = max(series.latest_ns, time_ns)
            elif time_ns < self.since_ns:
                if time_ns >= series.before_ns:
                    series.before_ns, series.before = time_ns, value
            elif time_ns >= series.latest_ns:
                series.latest_ns, series.latest = time_ns, value
        for origin, found, value in gauge_points(request, ERRORS_FIRST_SEEN.name):
            if wanted(origin):
                key = _key(found)
                self._first[key] = min(self._first.get(key, value), value)
        for origin, found, value in gauge_points(request, ERRORS_LAST_SEEN.name):
            if wanted(origin):
                key = _key(found)
                if value >= self._last.get(key, (0.0, ""))[0]:
                    self._last[key] = (value, str(found.get("trace_id", "")))

    @property
    def empty(self) -> bool:
        return not self._series

    def add_span(self, span: SpanRecord) -> None:
        for event in span.events:
            if event.name == "exception":
                self._offer(span.trace_id, event.attributes)

    def add_log(self, entry: LogEntry) -> None:
        if "exception.type" in entry.attributes:
            self._offer(entry.trace_id, entry.attributes)

    def _offer(self, trace_id: str, found: Mapping[str, Any]) -> None:
        kind = str(found.get("exception.type", ""))
        message = str(found.get("exception.message", ""))
        if kind:
            self._by_trace.setdefault((trace_id, kind), message)
            self._messages.setdefault(kind, (trace_id, message))

    def groups(self) -> list[ErrorGroup]:
        counts: dict[GroupKey, float] = {}
        for (_origin, key, _start), series in self._series.items():
            grown = series.delta_sum + (series.latest - series.before if series.latest_ns >= 0 else 0.0)
            counts[key] = counts.get(key, 0.0) + grown
        found: list[ErrorGroup] = []
        for key, count in counts.items():
            if count <= 0:
                continue
            last, trace_id = self._last.get(key, (0.0, ""))
            group = ErrorGroup(*key, count=int(count), first_ns=int(self._first.get(key, 0.0) * 1e9),
                               last_ns=int(last * 1e9), trace_id=trace_id)
            own = self._by_trace.get((trace_id, group.type)) if trace_id else None
            if own is not None:
                group.message, group.sample_message = scrub(own), True
            elif group.type in self._messages:
                group.message = scrub(self._messages[group.type][1])
            found.append(group)
        return sorted(found, key=lambda g: (-g.count, -g.last_ns, g.type))


def _key(found: Mapping[str, Any]) -> GroupKey:
    kind, where, operation = (str(found.get(name, "")) for name in ERROR_GROUP_ATTRIBUTES)
    return kind, where, operation
