"""Where the tests find the real tools that scripts/debian-tools.sh unpacks into .tools/ (``make tools``).

Each can be overridden for people who have their own: ``OBS_PROMTOOL``, ``OBS_AMTOOL``,
``OBS_VICTORIA_METRICS`` and ``OBS_DOCKER`` name binaries, ``PROMQL_URL`` names a running PromQL engine (then
none need be started).
A test that needs a missing tool is skipped with the command that provides it, except under CI, where
`make test` installs every tool and a missing one fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = [
    "TOOLS",
    "amtool",
    "docker_client",
    "flush",
    "promql_engine",
    "promql_url",
    "promtool",
    "victoria_metrics",
]

TOOLS = Path(__file__).resolve().parent.parent / ".tools"
_HINT = "run `make tools` (scripts/debian-tools.sh)"


def _resolve(env: str, name: str) -> str | None:
    override = os.environ.get(env, "").strip()
    if override:
        return override
    bundled = TOOLS / "bin" / name
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which(name)


def _require(env: str, name: str) -> str:
    found = _resolve(env, name)
    if found is None:
        message = f"{name} not found: {_HINT}, or set {env}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI installs it with `make tools`: a missing tool there is a failure)")
        pytest.skip(message)
    return found


def promtool() -> str:
    """Path of promtool (``OBS_PROMTOOL``, else .tools/bin, else PATH); skips the test without one."""
    return _require("OBS_PROMTOOL", "promtool")


def amtool() -> str:
    """Path of amtool (``OBS_AMTOOL``, else .tools/bin, else PATH); skips the test without one."""
    return _require("OBS_AMTOOL", "amtool")


def victoria_metrics() -> str:
    """Path of single-node VictoriaMetrics (``OBS_VICTORIA_METRICS``, else .tools/bin, else PATH)."""
    return _require("OBS_VICTORIA_METRICS", "victoria-metrics")


def promql_url() -> str | None:
    """``PROMQL_URL`` when the user points the tests at a PromQL engine of their own."""
    return os.environ.get("PROMQL_URL", "").strip().rstrip("/") or None


def docker_client() -> tuple[str, dict[str, str]]:
    """A Docker client binary and the environment that lets it find its compose plugin (no engine needed)."""
    docker = _require("OBS_DOCKER", "docker")
    env = {}
    if (TOOLS / "docker" / "cli-plugins" / "docker-compose").is_file():
        env["DOCKER_CONFIG"] = str(TOOLS / "docker")
    return docker, env


@contextmanager
def promql_engine(workdir: Path) -> Iterator[tuple[str, str]]:
    """(query base URL, OTLP metrics URL) of a PromQL engine that ingests OTLP.

    With ``PROMQL_URL`` set, that engine is used (OTLP to ``$PROMQL_OTLP_URL``, by default VictoriaMetrics'
    path under it); otherwise a VictoriaMetrics is started on a free loopback port for the block, naming
    series the way Prometheus does, and stopped after it. Call :func:`flush` before querying what was sent.
    """
    given = promql_url()
    if given is not None:
        yield given, os.environ.get("PROMQL_OTLP_URL", f"{given}/opentelemetry/v1/metrics")
        return
    binary = victoria_metrics()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={workdir / 'vm-data'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-opentelemetry.usePrometheusNaming",
            "-search.disableCache",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("VictoriaMetrics did not start") from None
                time.sleep(0.1)
        yield base, f"{base}/opentelemetry/v1/metrics"
    finally:
        process.terminate()
        process.wait(timeout=10)


def flush(base: str) -> None:
    """Make what VictoriaMetrics ingested searchable now; other engines answer 4xx here, which is fine."""
    try:
        with urllib.request.urlopen(f"{base}/internal/force_flush", timeout=10):
            pass
    except OSError:
        pass
