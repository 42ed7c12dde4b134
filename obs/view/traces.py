"""Traces: a light summary of every trace on the first read, full span trees only for the few shown.

Reading the spans twice keeps memory small however long the app ran: the first pass keeps one summary per
trace, the second keeps the spans of the slowest and the failed traces only.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from obs.view.model import Origin, SpanRecord

__all__ = ["SpanNode", "Trace", "TraceIndex", "TraceSummary", "build_trees"]


@dataclass
class TraceSummary:
    trace_id: str
    start_ns: int
    end_ns: int
    spans: int = 0
    failed: bool = False
    root: str = ""
    origin: Origin | None = None

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


@dataclass
class TraceIndex:
    """First pass: one summary per trace."""

    summaries: dict[str, TraceSummary] = field(default_factory=dict)

    def add(self, span: SpanRecord) -> None:
        summary = self.summaries.get(span.trace_id)
        if summary is None:
            summary = self.summaries[span.trace_id] = TraceSummary(span.trace_id, span.start_ns, span.end_ns)
        summary.start_ns = min(summary.start_ns, span.start_ns)
        summary.end_ns = max(summary.end_ns, span.end_ns)
        summary.spans += 1
        summary.failed = summary.failed or span.failed
        if not span.parent_id or not summary.root:
            summary.root = span.name
            summary.origin = span.origin

    def slowest(self, limit: int) -> list[TraceSummary]:
        return heapq.nlargest(limit, self.summaries.values(), key=lambda s: (s.duration_ns, s.trace_id))

    def failed(self, limit: int) -> list[TraceSummary]:
        """The most recent failed traces, newest first."""
        failed = (s for s in self.summaries.values() if s.failed)
        return heapq.nlargest(limit, failed, key=lambda s: (s.start_ns, s.trace_id))

    @property
    def failed_count(self) -> int:
        return sum(1 for s in self.summaries.values() if s.failed)


@dataclass
class SpanNode:
    span: SpanRecord
    children: list[SpanNode] = field(default_factory=list)


@dataclass
class Trace:
    summary: TraceSummary
    roots: list[SpanNode]


def build_trees(spans: Iterable[SpanRecord]) -> list[SpanNode]:
    """Span trees of one trace, children in start order. A span whose parent is missing (not exported, or
    exported by another process that wrote elsewhere) becomes a root of its own."""
    nodes: dict[str, SpanNode] = {}
    for span in spans:
        nodes.setdefault(span.span_id, SpanNode(span))
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_id) if node.span.parent_id else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda child: (child.span.start_ns, child.span.span_id))
    return sorted(roots, key=lambda root: (root.span.start_ns, root.span.span_id))
