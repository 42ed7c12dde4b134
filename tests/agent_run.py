"""Helpers for the agent tests: run Python under `obs run` (or with `obs.init()`) in a fresh process.

The agent starts once per process and sets global providers, so every test that starts it does so in a child
process, with the environment the test gives, in a scratch project folder; the test process itself never
starts the agent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.otlp_receiver import OTLPReceiver

__all__ = [
    "OBS", "PYTHON", "ROOT", "DidNotStop", "Ran", "clean_environment", "exporting_to", "obs_run", "python",
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


class DidNotStop(AssertionError):
    """A process (a server and its workers) outlived its stop's bound and was killed: the test fails with its
    output instead of waiting on it."""


def _signal_group(group: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # every member already gone
        os.killpg(group, signal_number)


def _collect(process: subprocess.Popen[Any], timeout: float) -> str:
    """Wait for ``process`` to exit and, when its output is piped, for every process holding the pipe (its
    workers) to close it; what it wrote, stdout then stderr."""
    if process.stdout is None and process.stderr is None:
        process.wait(timeout=timeout)
        return ""
    said = process.communicate(timeout=timeout)
    return "".join(part.decode(errors="replace") if isinstance(part, bytes) else part
                   for part in said if part)


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 30.0, *, leader_only: bool = False,
                       check: bool = True) -> str:
    """Stop a process started with ``start_new_session=True`` (obs run, a server and its workers): SIGTERM to
    its group (to the leader only with ``leader_only``: the server then stops its workers its own way, which
    is what some tests check), wait at most ``timeout`` seconds for it (and for its piped output, which every
    worker holds open), then SIGKILL the whole group: a stuck worker never outlives its bound. Returns what it
    wrote when its output is piped; raises :class:`DidNotStop`, with that output, when it had to kill
    (unless ``check`` is false)."""
    if process.poll() is None:
        if os.getpgid(process.pid) != process.pid:
            raise ValueError("stop_process_group needs a process started with start_new_session=True")
        if leader_only:
            process.send_signal(signal.SIGTERM)
        else:
            _signal_group(process.pid, signal.SIGTERM)
    try:
        return _collect(process, timeout)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(process.pid, signal.SIGKILL)
    try:
        output = _collect(process, 10)
    except subprocess.TimeoutExpired:  # a process that left the group holds the pipe: give up on reading
        process.kill()
        process.wait(timeout=10)
        output = "(output not read: a process outside the group still holds the pipe)"
    if check:
        raise DidNotStop(f"{process.args!r} did not stop within {timeout:.0f} s of SIGTERM; killed. "
                         f"Its output ends with:\n{output[-4000:]}")
    return output
