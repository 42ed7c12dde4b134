"""Service overview: request rate, errors and latency (RED) by route and status class, and requests in flight.

This file is yours to edit: `obs dashboards build` turns it into ../overview.json. Every query is derived
from obs's telemetry catalog (obs.agent.catalog), so the metric and label names match what the agent sends.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.catalog import HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_DURATION
from obs.agent.settings import Settings
from obs.dashboards import kit
from obs.dashboards.panels import link, prometheus, stat, table, timeseries
from obs.dashboards.promql import INSTANCE, STATUS_CLASS, Match, Metric, legend

ROUTE = "http.route"
FAILED = Match("error.type", "!=", "")


def dashboard(settings: Settings) -> Dashboard:
    requests = Metric(HTTP_SERVER_DURATION)
    in_flight = Metric(HTTP_SERVER_ACTIVE_REQUESTS)
    to_traces = link("Slowest and failed traces", "traces")
    to_logs = link("Error logs", "logs")
    to_errors = link("Error groups", "errors")

    glance = kit.Row(
        "At a glance",
        [
            stat("Requests", prometheus(requests.rate()), unit="reqps"),
            stat(
                "Errors",
                prometheus(requests.ratio(FAILED)),
                unit="percentunit",
                thresholds=((0.01, "orange"), (0.05, "red")),
                links=[to_errors, to_logs],
            ),
            stat("Latency p95", prometheus(requests.quantile(0.95)), unit="s", links=[to_traces]),
            stat(
                "In flight", prometheus(in_flight.value()), unit="short", links=[link("Runtime", "runtime")]
            ),
        ],
    )
    traffic = kit.Row(
        "Traffic",
        [
            timeseries(
                "Requests by route", prometheus(requests.rate(by=[ROUTE]), legend(ROUTE)), unit="reqps"
            ),
            timeseries(
                "Requests by status class",
                prometheus(requests.rate_by_status_class(), "{{" + STATUS_CLASS + "}}"),
                unit="reqps",
                stack=True,
            ),
            timeseries(
                "Error ratio by route",
                prometheus(requests.ratio(FAILED, by=[ROUTE]), legend(ROUTE)),
                unit="percentunit",
                links=[to_errors, to_logs],
            ),
            timeseries(
                "Requests in flight by instance",
                prometheus(in_flight.value(by=[INSTANCE]), legend(INSTANCE)),
                unit="short",
            ),
        ],
    )
    latency = kit.Row(
        "Latency",
        [
            timeseries(
                "Latency p50 / p95 / p99",
                prometheus(requests.quantile(0.5), "p50", exemplar=True),
                prometheus(requests.quantile(0.95), "p95", exemplar=True),
                prometheus(requests.quantile(0.99), "p99", exemplar=True),
                unit="s",
                description="Dots are exemplars: click one to open the request's trace.",
                links=[to_traces],
            ),
            timeseries(
                "Latency p95 by route",
                prometheus(requests.quantile(0.95, by=[ROUTE]), legend(ROUTE), exemplar=True),
                unit="s",
                links=[to_traces],
            ),
        ],
    )
    routes = kit.Row(
        "Routes",
        [
            table(
                "Routes",
                prometheus(requests.rate(by=[ROUTE]), instant=True, table=True),
                prometheus(requests.ratio(FAILED, by=[ROUTE]), instant=True, table=True),
                prometheus(requests.quantile(0.95, by=[ROUTE]), instant=True, table=True),
                columns={
                    "Value #A": ("Requests/s", "reqps"),
                    "Value #B": ("Errors", "percentunit"),
                    "Value #C": ("p95", "s"),
                },
                sort_by="Requests/s",
                description="Over the last rate window; a route without failures shows 0% errors.",
            ),
        ],
    )
    return kit.dashboard(
        "overview",
        "Service overview",
        settings,
        [glance, traffic, latency, routes],
        description="Request rate, errors and latency of the service's HTTP server.",
    )
