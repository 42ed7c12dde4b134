"""`obs up`, `obs down`, `obs status`: the local stack (collector, Prometheus, Tempo, Loki, Grafana).

All three go through ``docker compose`` with the generated ``observability/compose.yaml``. Without a usable
Docker they stop with one line that says what to do instead (see :mod:`obs.docker`).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from obs.collector.compose import GRAFANA_PORT
from obs.docker import Compose, compose_for
from obs.endpointvars import missing_for_up
from obs.errors import DockerError
from obs.stackdir import observability_dir

__all__ = ["register"]

GRAFANA_URL = f"http://localhost:{GRAFANA_PORT}"
_WAIT_SECONDS = "300"


def _compose(args: argparse.Namespace) -> Compose:
    return compose_for(observability_dir(args.dir) / "compose.yaml")


def _up(args: argparse.Namespace) -> int:
    compose_file = observability_dir(args.dir) / "compose.yaml"
    missing = missing_for_up(compose_file, os.environ) if compose_file.is_file() else []
    if missing:
        # Said before Docker is even looked for: the collector would stop at once and restart forever.
        raise DockerError(missing[0] + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    compose = compose_for(compose_file)
    result = compose.run("up", "--detach", "--wait", "--wait-timeout", _WAIT_SECONDS)
    if result.returncode != 0:
        raise DockerError(
            f"`docker compose up` failed (exit {result.returncode}; its output is above) — "
            "fix what it reports, then run `obs up` again"
        )
    print(f"Grafana: {GRAFANA_URL} (dashboards in the `obs` folder)")
    print("OTLP: http://localhost:4318 (HTTP) and localhost:4317 (gRPC) — the app's default endpoint")
    return 0


def _down(args: argparse.Namespace) -> int:
    compose = _compose(args)
    extra = ("--volumes",) if args.volumes else ()
    result = compose.run("down", *extra)
    if result.returncode != 0:
        raise DockerError(f"`docker compose down` failed (exit {result.returncode}; its output is above)")
    print("The stack is stopped" + (" and its data deleted." if args.volumes else "; its data is kept."))
    return 0


def _containers(output: str) -> list[dict[str, Any]]:
    """``docker compose ps --format json`` prints a JSON array (older) or one object per line (newer)."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        parsed = json.loads(text)
        return [item for item in parsed if isinstance(item, dict)]
    return [
        item
        for line in text.splitlines()
        if line.strip()
        for item in [json.loads(line)]
        if isinstance(item, dict)
    ]


def _status(args: argparse.Namespace) -> int:
    compose = _compose(args)
    result = compose.run("ps", "--all", "--format", "json", capture=True)
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise DockerError(f"`docker compose ps` failed: {reason[-1] if reason else result.returncode}")
    try:
        containers = _containers(result.stdout)
    except json.JSONDecodeError:
        raise DockerError(
            "`docker compose ps` printed something that is not JSON — update Docker Compose"
        ) from None
    if not containers:
        print("The stack is not running; start it with `obs up`.")
        return 0
    running = False
    for container in sorted(containers, key=lambda item: str(item.get("Service", ""))):
        service, state = str(container.get("Service", "?")), str(container.get("State", "?"))
        health = str(container.get("Health") or "")
        print(f"{service:<12} {state}{f' ({health})' if health else ''}")
        running |= service == "grafana" and state == "running"
    if running:
        print(f"Grafana: {GRAFANA_URL}")
    return 0


def _add(subparsers: Any, name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help="the generated observability/ folder (default: the project's own)",
    )
    parser.set_defaults(handler=handler)
    return parser


def register(subparsers: Any) -> None:
    _add(
        subparsers,
        "up",
        "Start the local stack (Grafana, Prometheus, Tempo, Loki, collector) with Docker.",
        _up,
    )
    down = _add(subparsers, "down", "Stop the local stack.", _down)
    down.add_argument("--volumes", action="store_true", help="also delete the stored telemetry")
    _add(subparsers, "status", "Show what runs in the local stack and where Grafana is.", _status)
