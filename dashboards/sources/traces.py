"""Traces: the slowest requests and the failed spans of the service (Tempo, TraceQL).

Click a trace id to open the trace; from a span, Tempo's datasource links to its logs. This file is yours to
edit: `obs dashboards build` turns it into ../traces.json.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.settings import Settings
from obs.dashboards import kit, traceql
from obs.dashboards.panels import link, tempo, traces

THRESHOLDS = ("0ms", "100ms", "250ms", "500ms", "1s", "2s", "5s")


def dashboard(settings: Settings) -> Dashboard:
    found = kit.Row(
        "Traces",
        [
            traces(
                "Slowest requests",
                tempo(traceql.slowest("$min_duration"), limit=50),
                description="Server spans at least as long as `Slower than`, slowest first.",
                links=[link("Service overview", "overview")],
            ),
            traces(
                "Failed",
                tempo(traceql.failed(), limit=50),
                sort_by="Start time",
                description="Spans that ended in error, newest first.",
                links=[link("Error logs", "logs")],
            ),
        ],
    )
    return kit.dashboard(
        "traces",
        "Traces",
        settings,
        [found],
        description="Search the service's traces: the slowest requests and the failures.",
        variables=[kit.custom_variable("min_duration", "Slower than", THRESHOLDS, "0ms")],
    )
