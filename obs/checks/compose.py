"""Checks of ``compose.yaml``: the compose-spec schema, ports on localhost only, pinned images, and bind
mounts whose source exists.

The schema check always runs, in-process: jsonschema is one of obs's dependencies and the compose-spec
schema ships with obs (``compose-spec.json``: check-jsonschema 0.39.0's vendored copy, Apache-2.0). That costs
one small library instead of check-jsonschema's command-line stack (click, requests, ruamel.yaml...), and
the schema cannot change under a given obs release. Where a Docker client with the compose plugin is there,
``docker compose config`` (which needs no engine) checks what the schema cannot, such as interpolation; a
client that cannot run ``compose config`` (no plugin: ``unknown flag: --file``, ``unknown command``) counts
as no client at all.
"""

from __future__ import annotations

import importlib.resources
import json
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from obs.checks._report import Report
from obs.tools import find_tool

__all__ = ["check_compose"]

_SCHEMA_FIX = "see the compose specification for the keys a service accepts"
_NO_COMPOSE = ("is not a docker command", "unknown flag: --file", "unknown command", "unknown shorthand flag")
"""What a Docker client without the compose plugin answers (Docker 28: ``unknown flag: --file``)."""


@cache
def _validator() -> Any:
    text = importlib.resources.files("obs.checks").joinpath("compose-spec.json").read_text(encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def _schema_errors(document: Any) -> list[tuple[str, str]]:
    """(where, message) for each violation of the compose specification's schema."""
    errors = []
    for error in sorted(
        _validator().iter_errors(document), key=lambda item: list(map(str, item.absolute_path))
    ):
        where = ".".join(str(part) for part in error.absolute_path) or "top level"
        errors.append((where, str(error.message)))
    return errors


def _docker_config_errors(path: Path) -> list[str] | None:
    """Messages of ``docker compose config --quiet``; None when no Docker client can run it."""
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
    if not lines or any(marker in line for line in lines for marker in _NO_COMPOSE):
        return None
    return lines


def _check_schema(report: Report, path: Path, document: Any) -> None:
    errors = _schema_errors(document)
    for where, message in errors:
        report.add(path, f"{where}: {message}", _SCHEMA_FIX)
    if errors:
        return  # docker compose would only say the same again, worded differently
    for message in _docker_config_errors(path) or []:
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
