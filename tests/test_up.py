"""`obs up`, `obs down`, `obs status` without a usable Docker: one clear line that says what to do instead.

Run for real as a program: once with a PATH that has no `docker`, once with a real Docker client (and its
compose plugin) whose engine is not there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.observability_tree import make_settings, rendered_files, write_tree
from tests.tools import docker_client

INSTEAD = (
    "point OTEL_EXPORTER_OTLP_ENDPOINT at an existing collector, or run `obs view` to see the telemetry "
    "locally"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "observability", rendered_files(make_settings(tmp_path, service_name="shop"))
    )


def _obs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "obs", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DOCKER_", "OBS_DOCKER"))}
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    env["PATH"] = str(empty)
    return env


@pytest.mark.parametrize("command", ["up", "down", "status"])
def test_without_docker_on_path(folder: Path, tmp_path: Path, command: str) -> None:
    """No docker client at all: exit 1, nothing on stdout, one line naming the alternatives."""
    result = _obs(command, str(folder), env=_base_env(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"obs: DockerError: Docker is not installed (no `docker` on PATH) — install it, or {INSTEAD}"
    ]


@pytest.mark.parametrize("command", ["up", "down", "status"])
def test_with_a_docker_client_whose_engine_is_unreachable(folder: Path, tmp_path: Path, command: str) -> None:
    """A real client pointed at a socket nobody serves: the client's own reason, then what to do."""
    docker, docker_env = docker_client()
    env = {
        **_base_env(tmp_path),
        **docker_env,
        "PATH": str(Path(docker).parent),
        "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}",
    }
    result = _obs(command, str(folder), env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "obs: DockerError: the Docker engine is not reachable (Cannot connect to the "
        f"Docker daemon at unix://{tmp_path / 'no-engine.sock'}"
    )
    assert lines[0].endswith(f") — start Docker, or {INSTEAD}")


def test_without_a_generated_stack(tmp_path: Path) -> None:
    """No compose.yaml yet: the line says to run `obs init`, before looking for Docker at all."""
    (tmp_path / "observability").mkdir()
    result = _obs("up", str(tmp_path / "observability"), env=_base_env(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"obs: DockerError: {tmp_path / 'observability' / 'compose.yaml'} does not exist — run `obs init` to "
        "generate the local stack"
    ]


def test_status_reads_both_json_shapes_of_compose_ps() -> None:
    """Older compose prints one JSON array, newer one object per line; both give the same containers."""
    from obs.commands.up import _containers

    array = '[{"Service": "grafana", "State": "running"}, {"Service": "loki", "State": "exited"}]'
    lines = '{"Service": "grafana", "State": "running"}\n{"Service": "loki", "State": "exited"}\n'
    assert (
        _containers(array)
        == _containers(lines)
        == [
            {"Service": "grafana", "State": "running"},
            {"Service": "loki", "State": "exited"},
        ]
    )
    assert _containers("") == []


def _run_gateway_profile(folder: Path, environment: dict[str, str] | None) -> None:
    """Mount the gateway profile where compose mounts the collector config (as the README describes)."""
    compose = folder / "compose.yaml"
    text = compose.read_text(encoding="utf-8").replace(
        "./collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro",
        "./collector/gateway.yaml:/etc/otelcol-contrib/config.yaml:ro",
    )
    if environment is not None:
        lines = "".join(f"      {key}: {value}\n" for key, value in environment.items())
        text = text.replace("  collector:\n", f"  collector:\n    environment:\n{lines}", 1)
    compose.write_text(text, encoding="utf-8")


READS = "collector/gateway.yaml reads exporters.otlp_grpc/gateway.endpoint from OBS_GATEWAY_ENDPOINT"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            None,
            f"{READS}, which compose.yaml does not pass to the collector — add "
            "`OBS_GATEWAY_ENDPOINT: ${OBS_GATEWAY_ENDPOINT}` under its `environment:` and set it",
        ),
        (
            {"OBS_GATEWAY_ENDPOINT": "${OBS_GATEWAY_ENDPOINT}"},
            f"{READS}, and OBS_GATEWAY_ENDPOINT is not set — set it (the collector refuses to start with an "
            "empty endpoint)",
        ),
    ],
    ids=["not passed by compose", "passed but unset"],
)
def test_up_names_the_endpoint_variable_the_collector_would_lack(
    folder: Path, tmp_path: Path, environment: dict[str, str] | None, expected: str
) -> None:
    """A stack running the gateway profile without its endpoint: one line naming the variable, before Docker
    is even looked for (the collector would otherwise stop at start and restart forever)."""
    _run_gateway_profile(folder, environment)
    result = _obs("up", str(folder), env=_base_env(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"obs: DockerError: {expected}"]


def test_up_goes_on_once_the_endpoint_variable_is_set(folder: Path, tmp_path: Path) -> None:
    """With the variable passed and set, the check is satisfied and `obs up` reaches Docker (absent here)."""
    _run_gateway_profile(folder, {"OBS_GATEWAY_ENDPOINT": "${OBS_GATEWAY_ENDPOINT}"})
    result = _obs("up", str(folder), env={**_base_env(tmp_path), "OBS_GATEWAY_ENDPOINT": "central:4317"})
    assert result.returncode == 1
    assert result.stderr.startswith("obs: DockerError: Docker is not installed")
