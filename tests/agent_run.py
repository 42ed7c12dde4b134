"""Helpers for the agent tests: run Python under `obs run` (or with `obs.init()`) in a fresh process.

The agent starts once per process and sets global providers, so every test that starts it does so in a child
process, with the environment the test gives, in a scratch project folder; the test process itself never
starts the agent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.otlp_receiver import OTLPReceiver

__all__ = [
    "OBS", "PYTHON", "ROOT", "Ran", "clean_environment", "exporting_to", "obs_run", "python",
    "stop_process_group",
]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
OBS = str(Path(sys.executable).parent / "obs")

_FAST = {
    "OTEL_METRIC_EXPORT_INTERVAL": "300",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_BLRP_SCHEDULE_DELAY": "100",
}
"""Short export intervals, so tests see telemetry quickly."""


def clean_environment(extra: Mapping[str, str] | None = None, *, fast: bool = True) -> dict[str, str]:
    """This environment without any OTEL_*/OBS_* variable or PYTHONPATH, plus ``extra``."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "OBS_")) and key not in ("PYTHONPATH", "PYTEST_ADDOPTS")
    }
    if fast:
        env.update(_FAST)
    env.update(extra or {})
    return env


def exporting_to(receiver: OTLPReceiver, **extra: str) -> dict[str, str]:
    """:func:`clean_environment` with the OTLP endpoint set to ``receiver``, plus ``extra``."""
    return clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **extra})


@dataclass(frozen=True)
class Ran:
    """A finished child process: exit code, output, and how long it took from start to exit."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def obs_lines(self) -> list[str]:
        """The lines obs itself wrote on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("obs:")]


def _run(command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float) -> Ran:
    started = time.monotonic()
    done = subprocess.run(list(command), env=dict(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def obs_run(command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 60.0) -> Ran:
    """``obs run -- command`` in ``cwd``."""
    return _run([OBS, "run", "--", *command], env, cwd, timeout)


def python(
    code: str, env: Mapping[str, str], cwd: Path, *, under_obs: bool = True, timeout: float = 60.0
) -> Ran:
    """Run ``code`` with this venv's Python, under ``obs run`` unless told otherwise."""
    command = [PYTHON, "-c", code]
    return obs_run(command, env, cwd, timeout) if under_obs else _run(command, env, cwd, timeout)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM to a process started with ``start_new_session=True`` and its group (obs run, a server and its
    workers), then SIGKILL if it lingers past ``timeout`` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
