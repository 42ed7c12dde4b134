"""Running the local stack through ``docker compose``, and explaining in one line when that cannot work.

The checks run from the most to the least fundamental: is there a ``docker`` client, does its engine
answer, is the compose plugin there. Each failure names what to do instead, because nothing in obs needs
Docker: the app can export to any collector, and ``obs view`` shows the telemetry it writes locally.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from obs.errors import DockerError
from obs.tools import find_tool

__all__ = ["INSTEAD", "Compose", "compose_for"]

INSTEAD: Final = (
    "point OTEL_EXPORTER_OTLP_ENDPOINT at an existing collector, "
    "or run `obs view` to see the telemetry locally"
)
_PROBE_TIMEOUT = 30.0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _probe(command: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    """Run a quick docker command; None when it could not even start or hung."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


@dataclass(frozen=True)
class Compose:
    """``docker compose`` bound to one compose file."""

    docker: str
    compose_file: Path

    def command(self, *args: str) -> list[str]:
        return [self.docker, "compose", "--file", str(self.compose_file), *args]

    def run(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a compose subcommand; its output goes to the terminal unless ``capture``."""
        try:
            return subprocess.run(self.command(*args), capture_output=capture, text=True, check=False)
        except OSError as error:
            raise DockerError(f"cannot run {self.docker} ({error}) — {INSTEAD}") from None


def compose_for(compose_file: Path) -> Compose:
    """A Compose runner for ``compose_file``, or a DockerError that says why not and what to do instead."""
    if not compose_file.is_file():
        raise DockerError(f"{compose_file} does not exist — run `obs init` to generate the local stack")
    docker = find_tool("docker")
    if docker is None:
        raise DockerError(f"Docker is not installed (no `docker` on PATH) — install it, or {INSTEAD}")
    info = _probe([docker, "info", "--format", "{{.ServerVersion}}"])
    if info is None or info.returncode != 0:
        reason = "no answer" if info is None else _last_line(info.stderr or info.stdout)
        raise DockerError(f"the Docker engine is not reachable ({reason}) — start Docker, or {INSTEAD}")
    version = _probe([docker, "compose", "version"])
    if version is None or version.returncode != 0:
        raise DockerError(
            f"`docker compose` is not available (install the Docker Compose plugin) — or {INSTEAD}"
        )
    return Compose(docker, compose_file)
