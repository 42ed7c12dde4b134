"""The environment variables a collector config reads its exporter endpoints from.

The gateway and vendor profiles write ``endpoint: ${env:OBS_GATEWAY_ENDPOINT}``; while that variable is unset
or empty the collector refuses to start (``requires a non-empty "endpoint"``) and, under compose's
``restart: unless-stopped``, restarts forever. ``obs check`` and ``obs up`` name the variable first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["compose_collector_configs", "endpoint_variables", "missing_for_up", "passed_variables"]

_REQUIRED = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${env:VAR}`` with no ``:-default``: the collector substitutes an empty string when VAR is unset."""
_INTERPOLATED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def endpoint_variables(config: Any) -> list[tuple[str, str]]:
    """(``exporters.<id>.endpoint``, variable) per exporter endpoint read from a variable with no default."""
    exporters = config.get("exporters") if isinstance(config, Mapping) else None
    found = []
    for exporter_id, settings in (exporters or {}).items() if isinstance(exporters, Mapping) else ():
        endpoint = settings.get("endpoint") if isinstance(settings, Mapping) else None
        if isinstance(endpoint, str):
            found += [(f"exporters.{exporter_id}.endpoint", name) for name in _REQUIRED.findall(endpoint)]
    return found


def _environment(service: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    environment = service.get("environment")
    if isinstance(environment, Mapping):
        for key, value in environment.items():
            yield str(key), None if value is None else str(value)
    elif isinstance(environment, list):
        for item in map(str, environment):
            key, sep, value = item.partition("=")
            yield key, value if sep else None


def passed_variables(service: Mapping[str, Any]) -> dict[str, list[str]]:
    """Container variable -> the host variables compose takes its value from (``VAR`` alone: the same one)."""
    passed: dict[str, list[str]] = {}
    for key, value in _environment(service):
        passed[key] = [key] if value is None else _INTERPOLATED.findall(value)
    return passed


def compose_collector_configs(compose_file: Path) -> list[tuple[Path, Mapping[str, Any]]]:
    """(collector config file mounted by compose, that service): the configs ``obs up`` would run."""
    try:
        document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return []  # `obs check` reports an unreadable compose file; docker compose will too
    services = document.get("services") if isinstance(document, Mapping) else None
    found = []
    for name, service in (services or {}).items() if isinstance(services, Mapping) else ():
        if not isinstance(service, Mapping):
            continue
        image = str(service.get("image", ""))
        if name != "collector" and "opentelemetry-collector" not in image and "otelcol" not in image:
            continue
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else ""
            if source.startswith("./") and source.endswith((".yaml", ".yml")):
                found.append((compose_file.parent / source, service))
    return found


def missing_for_up(compose_file: Path, environ: Mapping[str, str]) -> list[str]:
    """One sentence per endpoint variable that the collector ``obs up`` would start will lack."""
    problems = []
    for config_path, service in compose_collector_configs(compose_file):
        try:
            config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
            continue  # `obs check` names the file
        passed = passed_variables(service)
        for where, variable in endpoint_variables(config):
            source = f"{config_path.parent.name}/{config_path.name}"
            if variable not in passed:
                problems.append(
                    f"{source} reads {where} from {variable}, which compose.yaml does not pass to the "
                    f"collector — add `{variable}: ${{{variable}}}` under its `environment:` and set it"
                )
            elif any(not environ.get(host) for host in passed[variable]):
                unset = ", ".join(host for host in passed[variable] if not environ.get(host))
                problems.append(
                    f"{source} reads {where} from {variable}, and {unset} is not set — set it "
                    "(the collector refuses to start with an empty endpoint)"
                )
    return problems
