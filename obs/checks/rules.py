"""Checks of the Prometheus config and alert rules: promtool when it is there, a structural check otherwise.

promtool parses every PromQL expression, which nothing else here can do; without it the report says that the
expressions were not checked and how to get promtool.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obs.checks._report import Report
from obs.tools import TOOL_ENV, find_tool

__all__ = ["check_rules"]


def _fix_for(message: str) -> str:
    if "parse" in message and "expression" in message:
        return "fix the PromQL expression"
    if "not found in type" in message:
        return "remove or rename the key (a rule takes alert or record, expr, for, labels, annotations)"
    return "fix it so that `promtool check` accepts it"


def _promtool_messages(output: str, path: Path) -> list[str]:
    """promtool's error lines for one file, with indented continuation lines joined onto the first."""
    messages: list[str] = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith(("Checking ", "SUCCESS", "FAILED")):
            continue
        if raw.startswith(" ") and messages:
            messages[-1] += f"; {line}"
        else:
            messages.append(line.removeprefix(f"{path}: ").removeprefix(f"{path.name}: "))
    return messages


def _run_promtool(report: Report, promtool: str, path: Path, *command: str) -> None:
    try:
        result = subprocess.run(
            [promtool, *command, str(path)], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        report.note(f"promtool could not run ({error}); {report.relative(path)} was not checked")
        return
    if result.returncode == 0:
        return
    messages = _promtool_messages(result.stderr + "\n" + result.stdout, path)
    for message in messages or [f"promtool {command[0]} {command[1]} failed (exit {result.returncode})"]:
        report.add(path, message, _fix_for(message))


def _check_structure(report: Report, path: Path) -> None:
    document: Any = report.load_yaml(path)
    if document is None:
        return
    groups = document.get("groups") if isinstance(document, Mapping) else None
    if not isinstance(groups, list):
        report.add(path, "has no `groups` list", "write rules as `groups: [{name: ..., rules: [...]}]`")
        return
    for index, group in enumerate(groups):
        rules = group.get("rules") if isinstance(group, Mapping) else None
        if not isinstance(rules, list):
            report.add(
                path, f"groups[{index}] has no `rules` list", "give each group a name and a rules list"
            )
            continue
        for number, rule in enumerate(rules):
            if not isinstance(rule, Mapping) or "expr" not in rule or not ({"alert", "record"} & set(rule)):
                report.add(
                    path,
                    f"groups[{index}].rules[{number}] lacks `expr` or `alert`/`record`",
                    "give every rule an expr and either alert or record",
                )


def check_rules(report: Report) -> None:
    """Check ``prometheus/prometheus.yml`` and ``prometheus/rules/*.yaml``."""
    folder = report.root / "prometheus"
    config = folder / "prometheus.yml"
    rules = sorted((folder / "rules").glob("*.y*ml"))
    report.require(config, "the Prometheus config of the local stack")
    promtool = find_tool("promtool")
    if promtool is None:
        report.note(
            f"promtool not found: alert rule expressions were not checked (install Prometheus's promtool, "
            f"or set {TOOL_ENV['promtool']} to its path)"
        )
        for path in rules:
            _check_structure(report, path)
        if config.exists():
            report.load_yaml(config)
        return
    for path in rules:
        report.checked.add(report.relative(path))
        _run_promtool(report, promtool, path, "check", "rules")
    if config.exists():
        report.checked.add(report.relative(config))
        # The rule files were checked one by one above; here only the config itself.
        _run_promtool(report, promtool, config, "check", "config", "--syntax-only")
