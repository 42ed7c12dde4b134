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

from obs.agent.catalog import DATASOURCE_UIDS, label

__all__ = ["DASHBOARDS_MOUNT", "dashboard_provider", "datasources"]

DASHBOARDS_MOUNT: Final = "/etc/obs/dashboards"
"""Where compose.yaml mounts observability/dashboards/ inside the Grafana container."""

_METRICS, _TRACES, _LOGS = DATASOURCE_UIDS["metrics"], DATASOURCE_UIDS["traces"], DATASOURCE_UIDS["logs"]
_SERVICE_TAG = [{"key": "service.name", "value": label("service.name")}]


def datasources() -> dict[str, Any]:
    """Prometheus (default), Tempo and Loki, each pointing at its compose service."""
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
                        {"name": "trace_id", "datasourceUid": _TRACES, "urlDisplayLabel": "View trace"},
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
                    "tracesToMetrics": {"datasourceUid": _METRICS, "tags": _SERVICE_TAG},
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
