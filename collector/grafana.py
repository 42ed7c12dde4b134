"""Grafana provisioning: the three datasources, linked to each other, and the dashboards folder.

The datasource uids are fixed (``obs.agent.catalog.DATASOURCE_UIDS``) because the generated dashboards
refer to them. The links make a trace one click away from a slow bucket (exemplars), a trace's logs one click
away from the trace (Tempo trace-to-logs), and the trace one click away from a log line (Loki derived field
``trace_id``).

Grafana expands ``$VAR`` and ``${VAR}`` in provisioning files from its environment, so template variables
meant for Grafana itself are written ``$${...}`` here.
"""

from __future__ import annotations

from typing import Any, Final

from obs.agent.catalog import DATASOURCE_UIDS, HTTP_SERVER_DURATION, label

__all__ = [
    "ALERTMANAGER_UID",
    "DASHBOARDS_MOUNT",
    "EXEMPLAR_TRACE_ID_LABELS",
    "dashboard_provider",
    "datasources",
    "traces_to_metrics_queries",
]

DASHBOARDS_MOUNT: Final = "/etc/obs/dashboards"
"""Where compose.yaml mounts observability/dashboards/ inside the Grafana container."""

_METRICS, _TRACES, _LOGS = DATASOURCE_UIDS["metrics"], DATASOURCE_UIDS["traces"], DATASOURCE_UIDS["logs"]
_SERVICE_TAG = [{"key": "service.name", "value": label("service.name")}]
_SPAN_TAGS = [*_SERVICE_TAG, {"key": "http.route", "value": label("http.route")}]
"""Span attributes -> metric labels: what ``$__tags`` in the span-to-metrics queries expands to."""

ALERTMANAGER_UID: Final = "obs-alertmanager"

EXEMPLAR_TRACE_ID_LABELS: Final = ("trace_id", "traceID")
"""Exemplar labels that hold a trace id: the app's own histograms write ``trace_id``, the span metrics of
Tempo's metrics generator ``traceID``. Each gets a link to Tempo."""

_TAGS = "$$__tags"
"""``$__tags`` once Grafana has expanded the provisioning file (``$$`` is its escape for ``$``)."""


def traces_to_metrics_queries() -> list[dict[str, str]]:
    """Request rate, error ratio and p95 latency of the span's service and route, from the app's histogram.

    Grafana shows no span-to-metrics link unless queries are set; ``$__tags`` becomes the span's
    ``service_name`` and ``http_route`` matchers.
    """
    count = HTTP_SERVER_DURATION.series("count")
    bucket = HTTP_SERVER_DURATION.series("bucket")
    failed = f'{label("error.type")}!=""'  # 5xx or an exception, as the dashboards and alert rules count
    return [
        {"name": "Request rate", "query": f"sum(rate({count}{{{_TAGS}}}[5m]))"},
        {
            "name": "Error ratio",
            "query": f"sum(rate({count}{{{_TAGS}, {failed}}}[5m]))"
            f" / sum(rate({count}{{{_TAGS}}}[5m]))",
        },
        {
            "name": "Latency p95",
            "query": f"histogram_quantile(0.95, sum by (le) (rate({bucket}{{{_TAGS}}}[5m])))",
        },
    ]


def datasources() -> dict[str, Any]:
    """Prometheus (default), Tempo, Loki and Alertmanager, each pointing at its compose service."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": _METRICS,
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "httpMethod": "POST",
                    "prometheusType": "Prometheus",
                    "exemplarTraceIdDestinations": [
                        {"name": name, "datasourceUid": _TRACES, "urlDisplayLabel": "View trace"}
                        for name in EXEMPLAR_TRACE_ID_LABELS
                    ],
                },
            },
            {
                "name": "Tempo",
                "uid": _TRACES,
                "type": "tempo",
                "access": "proxy",
                "url": "http://tempo:3200",
                "editable": False,
                "jsonData": {
                    "tracesToLogsV2": {
                        "datasourceUid": _LOGS,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "tags": _SERVICE_TAG,
                        # OTLP logs keep the trace id as structured metadata, not in the line: filter on it.
                        "customQuery": True,
                        "query": '{$${__tags}} | trace_id="$${__trace.traceId}"',
                    },
                    "tracesToMetrics": {
                        "datasourceUid": _METRICS,
                        "spanStartTimeShift": "-15m",
                        "spanEndTimeShift": "15m",
                        "tags": _SPAN_TAGS,
                        "queries": traces_to_metrics_queries(),
                    },
                    "serviceMap": {"datasourceUid": _METRICS},
                    "nodeGraph": {"enabled": True},
                    "lokiSearch": {"datasourceUid": _LOGS},
                },
            },
            {
                "name": "Loki",
                "uid": _LOGS,
                "type": "loki",
                "access": "proxy",
                "url": "http://loki:3100",
                "editable": False,
                "jsonData": {
                    "derivedFields": [
                        {
                            "name": "trace_id",
                            "matcherType": "label",
                            "matcherRegex": "trace_id",
                            "datasourceUid": _TRACES,
                            "url": "$${__value.raw}",
                            "urlDisplayLabel": "View trace",
                        },
                    ],
                },
            },
            {
                "name": "Alertmanager",
                "uid": ALERTMANAGER_UID,
                "type": "alertmanager",
                "access": "proxy",
                "url": "http://alertmanager:9093",
                "editable": False,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
            },
        ],
    }


def dashboard_provider() -> dict[str, Any]:
    """Loads every ``dashboards/*.json`` that obs generates into an ``obs`` folder, and picks up edits."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "obs",
                "folder": "obs",
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": True,
                "updateIntervalSeconds": 10,
                "options": {"path": DASHBOARDS_MOUNT, "foldersFromFilesStructure": False},
            },
        ],
    }
