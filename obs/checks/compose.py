"""Checks of ``compose.yaml``: the compose-spec schema, ports on localhost only, pinned images, and bind
mounts whose source exists.

The schema is the one check-jsonschema vendors (``vendor.compose-spec``), validated in-process with
jsonschema. Both are optional at run time: without them ``docker compose config`` does the job when a
Docker client is there (it needs no engine), and otherwise the report says what was skipped.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obs.checks._report import Report
from obs.tools import find_tool

__all__ = ["check_compose"]

_SCHEMA_FIX = "see the compose specification for the keys a service accepts"


def _schema_errors(document: Any) -> list[tuple[str, str]] | None:
    """(where, message) for each schema violation; None when the schema or jsonschema is not installed."""
    try:
        jsonschema = importlib.import_module("jsonschema")
        vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
        schema = json.loads(vendored.joinpath("compose-spec.json").read_bytes())
    except (ImportError, OSError, ValueError):
        return None
    validator = jsonschema.Draft202012Validator(schema)
    errors = []
    for error in sorted(validator.iter_errors(document), key=lambda item: list(map(str, item.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "top level"
        errors.append((where, str(error.message)))
    return errors


def _docker_config_errors(path: Path) -> list[str] | None:
    """Messages of ``docker compose config --quiet``; None when no usable Docker client is there."""
    docker = find_tool("docker")
    if docker is None:
        return None
    try:
        result = subprocess.run(
            [docker, "compose", "--file", str(path), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode == 0:
        return []
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    if any("is not a docker command" in line for line in lines):
        return None
    return lines or [f"docker compose config failed (exit {result.returncode})"]


def _check_schema(report: Report, path: Path, document: Any) -> None:
    errors = _schema_errors(document)
    if errors is not None:
        for where, message in errors:
            report.add(path, f"{where}: {message}", _SCHEMA_FIX)
        return
    messages = _docker_config_errors(path)
    if messages is None:
        report.note(
            "compose.yaml was not checked against the compose specification: install check-jsonschema "
            "(`pip install check-jsonschema`) or a Docker client with the compose plugin"
        )
        return
    for message in messages:
        report.add(path, message.removeprefix(f"validating {path}: "), _SCHEMA_FIX)


def _check_service(report: Report, path: Path, name: str, service: Mapping[str, Any]) -> None:
    image = service.get("image")
    if isinstance(image, str):
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            report.add(
                path,
                f"services.{name}.image `{image}` is not pinned",
                "name an exact version tag, so that the stack does not change under you",
            )
    for port in service.get("ports") or []:
        text = str(port.get("host_ip", "") + ":" if isinstance(port, Mapping) else port)
        if not text.startswith(("127.0.0.1:", "localhost:", "[::1]:")):
            report.add(
                path,
                f"services.{name}.ports publishes `{port}` on every network interface",
                "prefix it with 127.0.0.1: (the stack has no authentication)",
            )
    for volume in service.get("volumes") or []:
        source = volume.split(":", 1)[0] if isinstance(volume, str) else ""
        if not source.startswith("./"):
            continue
        mounted = path.parent / source
        if not mounted.exists():
            report.add(
                path,
                f"services.{name} mounts `{source}`, which does not exist",
                "run `obs init` to generate it, or fix the path",
            )
        elif (
            mounted.is_file()
            and mounted.suffix in (".yaml", ".yml")
            and report.relative(mounted) not in report.checked
        ):
            # The backends' own configs (Tempo, Loki): at least they must parse.
            report.load_yaml(mounted)


def check_compose(report: Report) -> None:
    """Check ``compose.yaml`` against the compose-spec schema and obs's own rules for the local stack."""
    path = report.root / "compose.yaml"
    if not report.require(path, "the local stack"):
        return
    document = report.load_yaml(path)
    if document is None:
        return
    _check_schema(report, path, document)
    services = document.get("services") if isinstance(document, Mapping) else None
    if isinstance(services, Mapping):
        for name, service in services.items():
            if isinstance(service, Mapping):
                _check_service(report, path, str(name), service)
