"""Checks of the alerting path: Prometheus sends alerts to an Alertmanager, which routes them to receivers
that exist, and at least one receiver notifies someone (else a note says that alerts reach nobody).

With Alertmanager's amtool (``amtool check-config``) the whole file is checked as Alertmanager loads it:
durations, URLs, every integration's settings. Without it only the structure that decides whether a
notification can leave is checked, and a note says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from obs.checks._report import Report
from obs.collector.alerting import ALERTMANAGER_CONFIG, integrations
from obs.tools import TOOL_ENV, find_tool

__all__ = ["check_alerting"]


def _routes(route: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(route, Mapping):
        yield where, route
        for index, child in enumerate(route.get("routes") or []):
            yield from _routes(child, f"{where}.routes[{index}]")


def _run_amtool(report: Report, amtool: str, path: Path) -> bool | None:
    """Whether amtool accepted the file (each complaint is one finding); None when it could not run."""
    try:
        result = subprocess.run(
            [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        report.note(f"amtool could not run ({error}); {report.relative(path)} was checked for structure only")
        return None
    if result.returncode == 0:
        return True
    output = result.stdout + "\n" + result.stderr
    messages = [line.split("FAILED: ", 1)[1].strip() for line in output.splitlines() if "FAILED: " in line]
    for message in messages or [f"amtool check-config failed (exit {result.returncode})"]:
        report.add(path, f"amtool: {message}", "fix it so that `amtool check-config` accepts it")
    return False


def _check_structure(report: Report, path: Path, document: Any) -> None:
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


def _note_nobody_notified(report: Report, path: Path, document: Any) -> None:
    receivers = document.get("receivers") if isinstance(document, Mapping) else None
    if not isinstance(receivers, list):
        return
    if not any(integrations(dict(item)) for item in receivers if isinstance(item, Mapping)):
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
    amtool = find_tool("amtool")
    if amtool is None:
        report.note(
            f"amtool not found: {report.relative(path)} was checked for structure only (install "
            f"Alertmanager's amtool, or set {TOOL_ENV['amtool']} to its path)"
        )
    accepted = None if amtool is None else _run_amtool(report, amtool, path)
    if accepted is not False:  # amtool's own complaint says what is wrong; the rest would only repeat it
        document = report.load_yaml(path)
        if document is not None:
            if accepted is None:
                _check_structure(report, path, document)
            _note_nobody_notified(report, path, document)
    else:
        report.checked.add(report.relative(path))
    _check_prometheus(report)
