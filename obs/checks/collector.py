"""Checks of the collector configs: every pipeline names defined components, ``memory_limiter`` comes
first and ``batch`` last, component types exist in the pinned collector release (a deprecated alias, which
still loads, gets a note), receivers are reachable from outside a container, and secrets come from the
environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from obs.checks._report import Report
from obs.collector.components import KINDS, Kind, alias_note, base_type, verdict
from obs.endpointvars import compose_collector_configs, endpoint_variables, passed_variables

__all__ = ["check_collector"]

_SIGNALS = ("traces", "metrics", "logs", "profiles")
_SECRET_KEY = re.compile(r"(?i)(authorization|password|passwd|secret|token|api[-_]?key|bearer)")


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(dotted path, key, value) for every mapping entry under ``node``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, str(key), value
            yield from _walk(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _section(report: Report, path: Path, config: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    section = config.get(kind) or {}
    if not isinstance(section, Mapping):
        report.add(
            path, f"`{kind}` is not a mapping of component ids to settings", f"write `{kind}:` as a mapping"
        )
        return {}
    return section


def _check_components(report: Report, path: Path, sections: Mapping[Kind, Mapping[str, Any]]) -> None:
    for kind, section in sections.items():
        for component_id in section:
            problem = verdict(kind, str(component_id))
            if problem is not None:
                report.add(path, f"{kind}.{component_id}: {problem[0]}", problem[1])
            note = alias_note(kind, str(component_id))
            if note is not None:
                report.note(f"{report.relative(path)}: {kind}.{component_id}: {note}")


def _check_list(
    report: Report, path: Path, where: str, value: Any, role: str, defined: set[str], section: str
) -> list[str]:
    if not isinstance(value, list) or not value:
        if role != "processors" or value not in (None, []):
            report.add(path, f"{where} has no {role}", f"list at least one of the `{section}` ids")
        return []
    names = [str(item) for item in value]
    for name in names:
        if name not in defined:
            report.add(
                path,
                f"{where} names {role[:-1]} `{name}`, which is not defined under `{section}`",
                f"define `{name}` under `{section}` or use one of: {', '.join(sorted(defined)) or 'none'}",
            )
    return names


def _check_order(report: Report, path: Path, where: str, processors: list[str]) -> None:
    types = [base_type(name) for name in processors]
    if "memory_limiter" not in types:
        report.add(
            path,
            f"{where} has no `memory_limiter`",
            "add `memory_limiter` as the first processor, so the collector sheds load instead of crashing",
        )
    elif types[0] != "memory_limiter":
        report.add(
            path, f"{where} runs `{processors[0]}` before `memory_limiter`", "move `memory_limiter` first"
        )
    if "batch" not in types:
        report.add(path, f"{where} has no `batch` processor", "add `batch` as the last processor")
    elif types[-1] != "batch":
        report.add(path, f"{where} runs `{processors[-1]}` after `batch`", "move `batch` last")


def _check_pipelines(
    report: Report, path: Path, service: Mapping[str, Any], sections: Mapping[Kind, Mapping[str, Any]]
) -> None:
    pipelines = service.get("pipelines")
    if not isinstance(pipelines, Mapping) or not pipelines:
        report.add(
            path, "service.pipelines is empty", "define at least one pipeline (traces, metrics or logs)"
        )
        return
    connectors = set(map(str, sections["connectors"]))
    for pipeline_id, pipeline in pipelines.items():
        where = f"service.pipelines.{pipeline_id}"
        if base_type(str(pipeline_id)) not in _SIGNALS:
            report.add(
                path,
                f"{where}: `{pipeline_id}` is not a signal",
                f"name it after one of {', '.join(_SIGNALS)}",
            )
        if not isinstance(pipeline, Mapping):
            report.add(path, f"{where} is not a mapping", "give it receivers, processors and exporters")
            continue
        _check_list(
            report,
            path,
            where,
            pipeline.get("receivers"),
            "receivers",
            set(map(str, sections["receivers"])) | connectors,
            "receivers",
        )
        processors = _check_list(
            report,
            path,
            where,
            pipeline.get("processors"),
            "processors",
            set(map(str, sections["processors"])),
            "processors",
        )
        _check_order(report, path, where, processors)
        _check_list(
            report,
            path,
            where,
            pipeline.get("exporters"),
            "exporters",
            set(map(str, sections["exporters"])) | connectors,
            "exporters",
        )


def _check_extensions(report: Report, path: Path, service: Mapping[str, Any], defined: set[str]) -> None:
    used = service.get("extensions") or []
    if not isinstance(used, list):
        report.add(path, "service.extensions is not a list", "list the extension ids to start")
        return
    for name in map(str, used):
        if name not in defined:
            report.add(
                path,
                f"service.extensions names `{name}`, which is not defined under `extensions`",
                f"define `{name}` under `extensions` or remove it",
            )
    if not any(base_type(str(name)) == "health_check" for name in used):
        report.add(
            path,
            "no `health_check` extension is started",
            "define `health_check` (endpoint 0.0.0.0:13133) and list it in service.extensions",
        )


def _check_values(report: Report, path: Path, config: Mapping[str, Any]) -> None:
    for where, key, value in _walk(config.get("receivers") or {}, "receivers"):
        if key == "endpoint" and isinstance(value, str) and value.startswith(("localhost:", "127.0.0.1:")):
            port = value.rsplit(":", 1)[-1]
            report.add(
                path,
                f"{where} listens on {value}, unreachable from outside a container",
                f"bind 0.0.0.0:{port}",
            )
    for where, key, value in _walk(config, ""):
        if (
            _SECRET_KEY.search(key)
            and not key.endswith(("_file", "_path", "_url"))
            and isinstance(value, str | int)
            and str(value)
            and "${" not in str(value)
        ):
            report.add(
                path,
                f"{where} holds a literal secret",
                "write `${env:VAR}` and set VAR in the collector's environment",
            )


def _check_endpoint_variables(report: Report, path: Path, config: Mapping[str, Any]) -> None:
    """Name the variables an exporter endpoint needs: unset, the collector stops at start."""
    compose_file = report.root / "compose.yaml"
    runs = {mounted.resolve(): service for mounted, service in compose_collector_configs(compose_file)}
    service = runs.get(path.resolve())
    for where, variable in endpoint_variables(config):
        if service is not None and variable not in passed_variables(service):
            report.add(
                path,
                f"{where} reads {variable}, which compose.yaml does not pass to the collector that runs "
                "this file: it would stop at start (`requires a non-empty \"endpoint\"`)",
                f"add `{variable}: ${{{variable}}}` under services.collector.environment and set it",
            )
        elif not os.environ.get(variable):
            report.note(
                f"{report.relative(path)} needs {variable} (its {where}) set and non-empty in the "
                "collector's environment, or the collector stops at start; it is not set here"
            )


def _check_file(report: Report, path: Path) -> None:
    before = len(report.findings)
    config = report.load_yaml(path)
    if config is None:
        if len(report.findings) == before and path.exists():
            report.add(
                path,
                "is empty (nothing but comments): the collector would have no pipeline to run",
                "regenerate it with `obs init`, or write receivers, exporters and service.pipelines",
            )
        return
    if not isinstance(config, Mapping):
        report.add(path, "is not a collector config (expected a mapping)", "regenerate it with `obs init`")
        return
    sections: dict[Kind, Mapping[str, Any]] = {kind: _section(report, path, config, kind) for kind in KINDS}
    _check_components(report, path, sections)
    service = config.get("service")
    if not isinstance(service, Mapping):
        report.add(path, "has no `service` section", "add `service.pipelines` that use the components")
        return
    _check_pipelines(report, path, service, sections)
    _check_extensions(report, path, service, set(map(str, sections["extensions"])))
    _check_values(report, path, config)
    _check_endpoint_variables(report, path, config)


def check_collector(report: Report) -> None:
    """Check ``collector/*.yaml`` (``config.yaml`` is the one the compose stack runs)."""
    folder = report.root / "collector"
    if not report.require(folder / "config.yaml", "the collector config of the local stack"):
        return
    for path in sorted(folder.glob("*.y*ml")):
        _check_file(report, path)
