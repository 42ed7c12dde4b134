"""Checks of the alerting path: Prometheus sends alerts to an Alertmanager, which routes them to receivers
that exist, and at least one receiver notifies someone (else a note says that alerts reach nobody).

No amtool is needed: the checks are the structural ones that decide whether a notification can leave.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from obs.checks._report import Report
from obs.collector.alerting import ALERTMANAGER_CONFIG, integrations

__all__ = ["check_alerting"]


def _routes(route: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(route, Mapping):
        yield where, route
        for index, child in enumerate(route.get("routes") or []):
            yield from _routes(child, f"{where}.routes[{index}]")


def _check_config(report: Report, path: Path, document: Any) -> None:
    if not isinstance(document, Mapping) or not isinstance(document.get("route"), Mapping):
        report.add(path, "has no `route`", "route alerts to a receiver: `route: {receiver: obs-team}`")
        return
    receivers = [item for item in document.get("receivers") or [] if isinstance(item, Mapping)]
    names = {str(item.get("name")) for item in receivers}
    if not document["route"].get("receiver"):
        report.add(path, "route has no `receiver`", "name the receiver alerts go to by default")
    for where, route in _routes(document["route"], "route"):
        receiver = route.get("receiver")
        if receiver is not None and str(receiver) not in names:
            report.add(
                path,
                f"{where} sends alerts to receiver `{receiver}`, which `receivers` does not define",
                f"define it, or use one of: {', '.join(sorted(names)) or 'none'}",
            )
    if not any(integrations(dict(item)) for item in receivers):
        report.note(
            f"{report.relative(path)}: no receiver has an integration, so alerts notify nobody — give "
            "receiver `obs-team` a webhook_configs, email_configs or slack_configs entry (see the file's "
            "header)"
        )


def _check_prometheus(report: Report) -> None:
    """Prometheus must name an Alertmanager, or firing alerts stay inside it."""
    path = report.root / "prometheus" / "prometheus.yml"
    if not path.is_file():
        return  # the rules check reports it missing
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return  # the rules check reports a config it cannot read
    alerting = document.get("alerting") if isinstance(document, Mapping) else None
    managers = alerting.get("alertmanagers") if isinstance(alerting, Mapping) else None
    if document is not None and not managers:
        report.add(
            path,
            "has no `alerting.alertmanagers`: alerts fire but are sent nowhere",
            "add `alerting: {alertmanagers: [{static_configs: [{targets: [alertmanager:9093]}]}]}`",
        )


def check_alerting(report: Report) -> None:
    """Check ``alertmanager/alertmanager.yml`` and that Prometheus sends alerts to it."""
    path = report.root / ALERTMANAGER_CONFIG
    if not report.require(path, "where alerts are sent"):
        return
    document = report.load_yaml(path)
    if document is not None:
        _check_config(report, path, document)
    _check_prometheus(report)
