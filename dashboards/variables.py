"""Template variables and datasource references that every obs dashboard shares.

Datasources are variables (``$metrics``, ``$logs``, ``$traces``) whose defaults are the fixed uids the
generated Grafana provisioning defines (:data:`obs.agent.catalog.DATASOURCE_UIDS`), so the dashboards work
out of the box in the local stack and can be pointed at other datasources from Grafana's UI. The service,
environment and instance come from the PromQL engine's labels; their defaults come from the settings.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from obs.agent.catalog import DATASOURCE_UIDS, label
from obs.agent.settings import Settings
from obs.dashboards.promql import ENVIRONMENT, INSTANCE, SERVICE

__all__ = [
    "DATASOURCE_TYPES",
    "SIGNALS",
    "Signal",
    "datasource",
    "datasource_variable",
    "label_values_variable",
    "scope_variables",
]

Signal = Literal["metrics", "logs", "traces"]
SIGNALS: Final[tuple[Signal, ...]] = ("metrics", "logs", "traces")
DATASOURCE_TYPES: Final[dict[Signal, str]] = {"metrics": "prometheus", "logs": "loki", "traces": "tempo"}
"""Grafana plugin id of the datasource each signal is queried with."""

_LABELS: Final[dict[Signal, str]] = {"metrics": "Metrics", "logs": "Logs", "traces": "Traces"}
_ALL: Final = {"selected": True, "text": "All", "value": "$__all"}


def datasource(signal: Signal) -> dict[str, str]:
    """The datasource reference of panels and targets: the signal's datasource variable."""
    return {"type": DATASOURCE_TYPES[signal], "uid": f"${{{signal}}}"}


def datasource_variable(signal: Signal) -> dict[str, Any]:
    """A datasource picker for ``signal``, defaulting to the provisioned datasource's fixed uid."""
    uid = DATASOURCE_UIDS[signal]
    return {
        "current": {"selected": False, "text": uid, "value": uid},
        "hide": 0,
        "includeAll": False,
        "label": _LABELS[signal],
        "multi": False,
        "name": signal,
        "options": [],
        "query": DATASOURCE_TYPES[signal],
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def _label_values(name: str, title: str, query: str, current: dict[str, Any], every: bool) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "current": current,
        "datasource": datasource("metrics"),
        "hide": 0,
        "includeAll": every,
        "label": title,
        "multi": every,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }
    if every:
        variable["allValue"] = ".*"
    return variable


def label_values_variable(
    name: str, title: str, selector: str, label_name: str, all_value: str = ".*"
) -> dict[str, Any]:
    """``$name``: the values ``label_name`` takes in the series ``selector`` picks, one at a time or All
    (``all_value``; ``.+`` keeps Loki from matching lines that lack the field), refreshed with the time
    range."""
    variable = _label_values(name, title, f"label_values({selector}, {label_name})", dict(_ALL), every=True)
    return variable | {"multi": False, "allValue": all_value}


def scope_variables(settings: Settings) -> list[dict[str, Any]]:
    """``$service``, ``$environment`` and ``$instance``: what every query is scoped to.

    The service and environment default to this project's own; ``All`` instances (workers) are shown.
    """
    service, environment, instance = label(SERVICE), label(ENVIRONMENT), label(INSTANCE)
    return [
        _label_values(
            "service",
            "Service",
            f"label_values({service})",
            {"selected": True, "text": settings.service_name, "value": settings.service_name},
            every=False,
        ),
        _label_values(
            "environment",
            "Environment",
            f'label_values({{{service}="$service"}}, {environment})',
            {"selected": True, "text": settings.environment, "value": settings.environment},
            every=True,
        ),
        _label_values(
            "instance",
            "Instance",
            f'label_values({{{service}="$service", {environment}=~"$environment"}}, {instance})',
            dict(_ALL),
            every=True,
        ),
    ]
