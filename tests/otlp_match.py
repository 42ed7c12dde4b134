"""Which received spans and log records a dashboard's TraceQL or LogQL query would select in Tempo or Loki.

Only the constructs obs's dashboards use are understood: conjunctions of ``field op "value"`` in TraceQL
(``resource.*``, span and ``event.*`` attributes, the intrinsics ``kind``, ``status`` and ``duration``; an
event condition holds when one of the span's events meets it), and in LogQL a
stream selector, label filters and line filters, with ``count_over_time`` around them. Anything else raises,
so a dashboard that grows a new construct cannot pass unchecked. Names follow Loki's OTLP mapping: resource
and log attributes with dots as underscores, plus ``trace_id``, ``span_id``, ``severity_text`` and
``severity_number``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from obs.agent.catalog import label

from tests.otlp_receiver import LogRecord, Span

__all__ = ["logql_fields", "logql_select", "traceql_select"]

_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS = {"unset": 0, "ok": 1, "error": 2}
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_CONDITION = re.compile(r'^([\w.]+)\s*(=~|!=|>=|<=|=|>|<)\s*(".*"|[\w.]+)$')


def _compare(actual: Any, op: str, expected: str) -> bool:
    if op == "=~":
        return actual is not None and re.fullmatch(expected, str(actual)) is not None
    if op in ("=", "!="):
        return (str(actual) == expected) == (op == "=") and actual is not None
    number = float(expected)
    value = float(actual) if actual is not None else float("nan")
    return {">=": value >= number, "<=": value <= number, ">": value > number, "<": value < number}[op]


def _unquote(text: str) -> str:
    return text[1:-1].replace('\\"', '"') if text.startswith('"') else text


def _span_value(span: Span, field: str, raw: str) -> tuple[Any, str]:
    """The span's value for ``field`` and the expected value, both in comparable form."""
    if field == "kind":
        return span.kind, str(_KINDS[raw])
    if field == "status":
        return span.status_code, str(_STATUS[raw])
    if field == "duration":
        amount = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s)", raw)
        if amount is None:
            raise ValueError(f"unsupported duration {raw!r}")
        return span.end_ns - span.start_ns, str(float(amount.group(1)) * _UNITS[amount.group(2)])
    if field.startswith("resource."):
        return span.resource.get(field.removeprefix("resource.")), _unquote(raw)
    if field.startswith("span."):
        return span.attributes.get(field.removeprefix("span.")), _unquote(raw)
    raise ValueError(f"unsupported TraceQL field {field!r}")


def traceql_select(query: str, spans: Iterable[Span]) -> list[Span]:
    """The spans a ``{ a && b && ... }`` query matches."""
    body = re.fullmatch(r"\{\s*(.*?)\s*\}", query.strip())
    if body is None:
        raise ValueError(f"unsupported TraceQL {query!r}")
    conditions = []
    for part in body.group(1).split("&&"):
        match = _CONDITION.match(part.strip())
        if match is None:
            raise ValueError(f"unsupported TraceQL condition {part.strip()!r}")
        conditions.append(match.groups())
    selected = []
    for span in spans:
        if all(_holds(span, field, op, raw) for field, op, raw in conditions):
            selected.append(span)
    return selected


def _holds(span: Span, field: str, op: str, raw: str) -> bool:
    if field.startswith("event."):
        name = field.removeprefix("event.")
        return any(_compare(event.get(name), op, _unquote(raw)) for event in span.event_attributes)
    actual, expected = _span_value(span, field, raw)
    return _compare(actual, op, expected)


def logql_fields(record: LogRecord) -> dict[str, Any]:
    """A log record as Loki's OTLP endpoint stores it: stream labels and structured metadata, by name."""
    fields: dict[str, Any] = {label(key): value for key, value in record.resource.items()}
    fields.update({label(key): value for key, value in record.attributes.items()})
    fields["severity_text"] = record.severity_text
    fields["severity_number"] = record.severity_number
    if record.trace_id:
        fields["trace_id"] = record.trace_id
        fields["span_id"] = record.span_id
    return fields


def _log_query(query: str) -> str:
    """The log query inside a ``sum by (...) (count_over_time(<log query> [window]))`` metric query."""
    metric = re.fullmatch(r"sum by \((\w+)\) \(count_over_time\((.*) \[[^\]]+\]\)\)", query.strip())
    return metric.group(2) if metric else query


def logql_select(query: str, records: Iterable[LogRecord]) -> list[LogRecord]:
    """The records a LogQL query (or the log query inside a count_over_time) selects."""
    text = _log_query(query)
    selector = re.match(r"\{([^}]*)\}", text)
    if selector is None:
        raise ValueError(f"no stream selector in {query!r}")
    stages = [("|", part) for part in selector.group(1).split(",") if part.strip()]
    for stage in re.findall(r'(\|=|\|)\s*((?:[^|"]|"(?:[^"\\]|\\.)*")+)', text[selector.end() :]):
        stages.append((stage[0], stage[1].strip()))
    selected = []
    for record in records:
        fields, line = logql_fields(record), str(record.body)
        keep = True
        for op, argument in stages:
            if op == "|":
                match = _CONDITION.match(argument)
                if match is None:
                    raise ValueError(f"unsupported LogQL label filter {argument!r}")
                name, compare, raw = match.groups()
                keep = keep and _compare(fields.get(name), compare, _unquote(raw))
            elif op == "|=":
                keep = keep and _unquote(argument) in line
            else:
                raise ValueError(f"unsupported LogQL stage {op} {argument!r}")
        if keep:
            selected.append(record)
    return selected
