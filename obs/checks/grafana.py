"""Checks of Grafana's provisioning and of the dashboards it loads.

Datasource uids must match the fixed ones the dashboards use, Grafana's own template variables must be
escaped (``$${__value.raw}``) because Grafana expands ``${...}`` in provisioning files, and every dashboard
must be valid JSON that refers only to provisioned datasources and passes the dashboards' lint.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from obs.agent.catalog import DATASOURCE_UIDS
from obs.checks._report import TOO_DEEP, Report

__all__ = ["check_dashboards", "check_provisioning"]

_UNESCAPED_GRAFANA_VARIABLE = re.compile(r"(?<!\$)\$(?:\{(__[^}]*)\}|(__\w+))")
_BUILTIN_UIDS = ("-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _check_datasources(report: Report, path: Path, document: Any) -> set[str]:
    items = document.get("datasources") if isinstance(document, Mapping) else None
    uids = {str(item.get("uid")) for item in items or [] if isinstance(item, Mapping)}
    for text in _strings(document):
        for match in _UNESCAPED_GRAFANA_VARIABLE.finditer(text):
            escaped = f"$${{{match.group(1)}}}" if match.group(1) else f"$${match.group(2)}"
            report.add(
                path,
                f"`{match.group(0)}` will be expanded by Grafana as an environment variable",
                f"write `{escaped}`",
            )
    return uids


def check_provisioning(report: Report) -> None:
    """Check ``grafana/provisioning``: the datasources with the fixed uids and the dashboards provider."""
    folder = report.root / "grafana" / "provisioning"
    sources = sorted((folder / "datasources").glob("*.y*ml"))
    if not sources:
        report.require(folder / "datasources" / "obs.yaml", "Grafana's datasources")
    defined: set[str] = set()
    for path in sources:
        document = report.load_yaml(path)
        if document is not None:
            defined |= _check_datasources(report, path, document)
    for signal, uid in DATASOURCE_UIDS.items():
        if sources and uid not in defined:
            report.add(
                sources[0],
                f"no datasource has uid `{uid}`, which the dashboards use for {signal}",
                f"set `uid: {uid}` on the {signal} datasource",
            )
    providers = sorted((folder / "dashboards").glob("*.y*ml"))
    if not providers:
        report.require(folder / "dashboards" / "obs.yaml", "the provider that loads the dashboards")
    for path in providers:
        report.load_yaml(path)


def _datasource_uids(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        source = node.get("datasource")
        if isinstance(source, Mapping) and isinstance(source.get("uid"), str):
            yield source["uid"]
        for value in node.values():
            yield from _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasource_uids(value)


def _lint_module() -> ModuleType | None:
    """The dashboards' lint module (``lint(json_text) -> list[str]``) when this version of obs has one."""
    for name in ("obs.dashboards.lint", "obs.dashboards"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if callable(getattr(module, "lint", None)):
            return module
    return None


def _basic_problems(text: str) -> list[tuple[str, str]]:
    """Without the dashboards' lint: valid JSON, and datasource uids that provisioning defines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return [(f"is not valid JSON ({error.msg} at line {error.lineno})", "fix or regenerate it")]
    except RecursionError:
        return [(TOO_DEEP, "fix or regenerate it")]
    known = set(DATASOURCE_UIDS.values())
    return [
        (
            f"refers to datasource uid `{uid}`, which provisioning does not define",
            f"use one of {', '.join(sorted(known))}",
        )
        for uid in sorted(set(_datasource_uids(document)))
        if uid not in known and not uid.startswith("$") and uid not in _BUILTIN_UIDS
    ]


def check_dashboards(report: Report) -> None:
    """Check ``dashboards/*.json`` with the dashboards' own lint (or a basic check where it is missing)."""
    paths = sorted((report.root / "dashboards").glob("*.json"))
    if not paths:
        report.note("no dashboards/*.json to check (run `obs init` or `obs dashboards` to generate them)")
        return
    module = _lint_module()
    if module is None:
        report.note(
            "dashboard lint is not available in this version of obs: only JSON and datasources checked"
        )
    else:
        status = getattr(module, "schema_check_status", None)
        skipped = status() if callable(status) else None
        if isinstance(skipped, str):
            report.note(skipped)
    for path in paths:
        text = report.read_text(path)
        if text is None:
            continue
        if module is None:
            for problem, fix in _basic_problems(text):
                report.add(path, problem, fix)
        else:
            for message in module.lint(text):
                report.add(path, str(message))
