"""Whole-process timings: start-up added to ``python -c pass``, and how long a process lingers after its app.

Both run each mode in turn, round after round (alternating, so background load hits every mode alike), and
keep every sample; :mod:`bench.stats` takes the medians.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import apps
from bench.apps import ROOT, Mode, app_dir, app_python, environment, free_port

EXIT_APP = ROOT / "bench" / "exit_app.py"


# What start-up is timed on, by the name the report shows: the bare interpreter; one that imports logging (obs
# run boots its agent lazily, on the first import worth observing); and each example app imported and
# answering its first request in-process (the boot, the instrumentations its libraries bring, and the first
# request's own set-up: the start-up a user of a real app sees).
PROGRAMS = {
    "`python -c pass`": "pass",
    "`python -c 'import logging'`": "import logging",
    "Flask example: import, first `/get`": (
        "from examples.flask_app.app import app\n"
        "assert app.test_client().get('/get').status_code == 200"
    ),
    "FastAPI example: import, first `/get`": (
        "from fastapi.testclient import TestClient\n"
        "from examples.fastapi_app.app import app\n"
        "assert TestClient(app).get('/get').status_code == 200"
    ),
}


def compile_obs() -> None:
    """Write the bytecode of obs's own modules, as installing obs from a wheel does (``BENCH_EDITABLE=1``).

    This checkout is installed in editable mode, and under ``PYTHONDONTWRITEBYTECODE`` (set in this
    machine's environment, and inherited by every mode) Python never caches its bytecode: every instrumented
    process then compiles the agent from source, about 35 ms that no installed obs pays (its third-party
    dependencies, installed by pip, have their bytecode already). py_compile writes regardless of the flag.
    """
    import compileall

    import obs.agent  # binds obs too

    for package in (obs, obs.agent):
        assert package.__file__ is not None, "obs is a regular package"
        compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)


def startup_samples(
    modes: list[Mode], rounds: int, programs: Mapping[str, str] = PROGRAMS
) -> dict[str, dict[str, list[float]]]:
    """Wall seconds per program (of ``programs``, by name: code) and mode: interpreter, agent start and agent
    shutdown.

    One discarded warm-up round first, so the page cache is warm for everyone.
    """
    samples: dict[str, dict[str, list[float]]] = {p: {mode.name: [] for mode in modes} for p in programs}
    for index in range(rounds + 1):
        for program, code in programs.items():
            for mode in modes:
                started = time.perf_counter()
                done = subprocess.run(
                    [*mode.wrapper, app_python(), "-c", code], env=environment(mode), cwd=app_dir(),
                    capture_output=True, timeout=120, check=False,
                )
                elapsed = time.perf_counter() - started
                if done.returncode != 0:
                    raise RuntimeError(f"{program} under {mode.name} failed: {done.stderr.decode()[-500:]}")
                if index:
                    samples[program][mode.name].append(elapsed)
    return samples


@dataclass(frozen=True)
class ExitCase:
    """A mode run with a collector that does not answer: at an endpoint it was given, or (``configured``
    false) with nothing configured at all, where obs is meant to fall back to local files; ``mute``: the
    collector accepts connections and never answers; ``server``: the Flask example under ``gunicorn -w 2``,
    timed from SIGTERM to its exit (one exit budget for the whole server, not one per process)."""

    mode: Mode
    configured: bool
    mute: bool = False
    server: bool = False

    @property
    def name(self) -> str:
        suffix = "" if self.configured else "-unconfigured"
        return self.mode.name + ("-server" if self.server else "") + ("-mute" if self.mute else "") + suffix


class _Mute:
    """A collector that accepts TCP connections and never answers (held open until the bench ends)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._held: list[socket.socket] = []
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self._held.append(self._listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()
        for connection in self._held:
            connection.close()


def exit_samples(
    cases: list[ExitCase], rounds: int, app_seconds: float, limit: float
) -> dict[str, list[float]]:
    """Seconds from the app's last line (``APP_END``) to its process's exit; ``limit`` if it was killed."""
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    dead_port = free_port()  # closed again before use: nothing answers there
    mute = _Mute()
    try:
        for _ in range(rounds):
            for case in cases:
                env = environment(case.mode)
                env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
                if case.configured:
                    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = (
                        mute.endpoint if case.mute else f"http://127.0.0.1:{dead_port}")
                with tempfile.TemporaryDirectory() as project:  # obs's file fallback writes under the project
                    if case.server:
                        samples[case.name].append(_server_exit(case, env, Path(project), app_seconds, limit))
                    else:
                        samples[case.name].append(_linger(case, env, Path(project), app_seconds, limit))
    finally:
        mute.close()
    return samples


def _server_exit(case: ExitCase, env: dict[str, str], cwd: Path, app_seconds: float, limit: float) -> float:
    """The Flask example under ``gunicorn -w 2``, a few requests, ``app_seconds`` of exports piling up
    against the collector, then SIGTERM: seconds until the whole server is gone."""
    port = free_port()
    env["EXAMPLES_DB"] = str(cwd / "examples.sqlite3")
    command = [str(apps.BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "examples.flask_app.app:app"]
    process = subprocess.Popen([*case.mode.wrapper, *command], env=env, cwd=app_dir(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                for _ in range(20):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/get", timeout=5) as answer:
                        answer.read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn under {case.name} did not answer") from None
                time.sleep(0.1)
        time.sleep(app_seconds / 4)
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            return limit
        return time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _linger(case: ExitCase, env: dict[str, str], cwd: Path, app_seconds: float, limit: float) -> float:
    process = subprocess.Popen(
        [*case.mode.wrapper, app_python(), str(EXIT_APP), str(app_seconds)],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    ended = None
    for line in process.stdout:
        if line.strip() == "APP_END":
            ended = time.perf_counter()
            break
    if ended is None:
        process.wait(timeout=limit)
        raise RuntimeError(f"exit app under {case.name} ended without APP_END (exit {process.returncode})")
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return limit
    return time.perf_counter() - ended
