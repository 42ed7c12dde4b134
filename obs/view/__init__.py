"""``obs view``'s machinery: read the local OTLP-JSON telemetry files and describe them in plain text.

- ``otlpjson``: one line as an ``opentelemetry.proto`` request (hex or base64 ids)
- ``files``: the telemetry folder, its files per signal, unreadable lines counted
- ``model``: spans, log entries and histogram points as plain records
- ``quantiles``: histogram bucket interpolation and exact percentiles
- ``routes``: per-route rate, error ratio, latency
- ``traces``: trace summaries, the slowest and failed ones, span trees
- ``report``: one read of the folder into a Report; ``render``: the Report as text
"""

from __future__ import annotations

from obs.view.render import Style, render
from obs.view.report import Options, Report, read_report

__all__ = ["Options", "Report", "Style", "read_report", "render"]
