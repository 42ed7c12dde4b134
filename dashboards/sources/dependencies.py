"""Dependencies: outgoing HTTP calls and database operations — rate, latency and errors.

A row appears only for the kinds of dependency the project's instrumentations cover (settings
`instrumentations`; when that list is empty, every row appears). This file is yours to edit:
`obs dashboards build` turns it into ../dependencies.json.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.catalog import DB_CLIENT_DURATION, HTTP_CLIENT_DURATION, Source
from obs.agent.settings import Settings
from obs.dashboards import kit
from obs.dashboards.panels import prometheus, timeseries
from obs.dashboards.promql import Match, Metric, legend

FAILED = Match("error.type", "!=", "")
HOST = "server.address"
SYSTEM, OPERATION, COLLECTION = "db.system.name", "db.operation.name", "db.collection.name"


def _http_client() -> kit.Row:
    calls = Metric(HTTP_CLIENT_DURATION)
    return kit.Row(
        "Outgoing HTTP",
        [
            timeseries(
                "Calls by host", prometheus(calls.rate(by=[HOST]), legend(HOST)), unit="reqps", width=8
            ),
            timeseries(
                "Latency p95 by host",
                prometheus(calls.quantile(0.95, by=[HOST]), legend(HOST)),
                unit="s",
                width=8,
            ),
            timeseries(
                "Error ratio by host",
                prometheus(calls.ratio(FAILED, by=[HOST]), legend(HOST)),
                unit="percentunit",
                width=8,
            ),
        ],
    )


def _database() -> kit.Row:
    operations = Metric(DB_CLIENT_DURATION)
    by = [SYSTEM, OPERATION, COLLECTION]
    return kit.Row(
        "Database",
        [
            timeseries("Operations", prometheus(operations.rate(by=by), legend(*by)), unit="ops", width=8),
            timeseries(
                "Latency p95", prometheus(operations.quantile(0.95, by=by), legend(*by)), unit="s", width=8
            ),
            timeseries(
                "Error ratio",
                prometheus(operations.ratio(FAILED, by=[SYSTEM, COLLECTION]), legend(SYSTEM, COLLECTION)),
                unit="percentunit",
                width=8,
            ),
        ],
    )


def dashboard(settings: Settings) -> Dashboard | None:
    rows = []
    if kit.uses(settings, Source.HTTP_CLIENT):
        rows.append(_http_client())
    if kit.uses(settings, Source.DATABASE):
        rows.append(_database())
    if not rows:
        return None  # no HTTP client or database instrumentation: no dashboard of empty panels
    return kit.dashboard(
        "dependencies",
        "Dependencies",
        settings,
        rows,
        description="Calls the service makes: outgoing HTTP requests and database operations.",
    )
