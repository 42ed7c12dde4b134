"""LogQL for logs that reach Loki over OTLP, built from the names Loki gives OpenTelemetry's fields.

Loki's OTLP endpoint turns ``service.name`` into the stream label ``service_name`` (the same translation as
:func:`obs.agent.catalog.label`); other resource attributes may be stream labels or structured metadata
depending on Loki's configuration, so they are filtered with label filters, which match either. The log
record's own fields (``severity_text``, ``severity_number``, ``trace_id``) are always structured metadata.
"""

from __future__ import annotations

from typing import Final

from obs.agent.catalog import label
from obs.dashboards.promql import ENVIRONMENT, INSTANCE, SERVICE

__all__ = [
    "ERROR_SEVERITY",
    "SEVERITY_NUMBER",
    "SEVERITY_TEXT",
    "TRACE_ID",
    "containing",
    "errors",
    "stream",
    "volume",
]

SEVERITY_TEXT: Final = "severity_text"
SEVERITY_NUMBER: Final = "severity_number"
TRACE_ID: Final = "trace_id"
"""Structured metadata Loki keeps from each OTLP log record."""

ERROR_SEVERITY: Final = 17
"""OpenTelemetry's SeverityNumber ERROR; ERROR2..4 and FATAL..FATAL4 are above it."""

WINDOW: Final = "$__interval"


def stream(*stages: str) -> str:
    """The service's log lines, scoped to ``$environment`` and ``$instance``, then ``stages`` in order.

    A stage is written whole: ``| severity_number >= 17`` (a label filter), ``|= "timeout"`` (a line filter).
    """
    selector = f'{{{label(SERVICE)}="$service"}}'
    scope = (f'| {label(ENVIRONMENT)}=~"$environment"', f'| {label(INSTANCE)}=~"$instance"')
    return " ".join((selector, *scope, *stages))


def errors() -> str:
    """Log lines at ERROR severity or above."""
    return stream(f"| {SEVERITY_NUMBER} >= {ERROR_SEVERITY}")


def containing(text: str) -> str:
    """Log lines that contain ``text`` (a Grafana variable such as ``$search`` works too)."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return stream(f'|= "{quoted}"')


def volume(by: str = SEVERITY_TEXT) -> str:
    """Log lines per interval, by ``by`` (severity by default)."""
    return f"sum by ({by}) (count_over_time({stream()} [{WINDOW}]))"
