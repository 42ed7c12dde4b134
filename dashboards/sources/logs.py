"""Logs: volume by severity and the latest errors (Loki, logs sent over OTLP), each a click from its trace.

Loki's datasource (provisioned by obs) turns each line's `trace_id` into a link to the trace in Tempo. This
file is yours to edit: `obs dashboards build` turns it into ../logs.json.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.settings import Settings
from obs.dashboards import kit, logql
from obs.dashboards.panels import link, logs, loki, timeseries


def dashboard(settings: Settings) -> Dashboard:
    volume = kit.Row(
        "Volume",
        [
            timeseries(
                "Log lines by severity",
                loki(logql.volume(logql.SEVERITY_TEXT), "{{" + logql.SEVERITY_TEXT + "}}"),
                unit="short",
                bars=True,
                stack=True,
                width=24,
                height=7,
                links=[link("Service overview", "overview")],
            ),
        ],
    )
    lines = kit.Row(
        "Lines",
        [
            logs(
                "Latest errors",
                loki(logql.errors(), max_lines=200),
                description="ERROR and FATAL lines. Open a line and follow `trace_id` to its trace.",
                height=12,
            ),
            logs(
                "All lines",
                loki(logql.containing("$search"), max_lines=500),
                description="Every line, filtered by the Search box.",
                height=12,
            ),
        ],
    )
    return kit.dashboard(
        "logs",
        "Logs",
        settings,
        [volume, lines],
        description="The service's log lines, from stdlib logging and loguru, with their trace ids.",
        variables=[kit.textbox_variable("search", "Search")],
    )
