"""Whole-process timings: start-up added to ``python -c pass``, and how long a process lingers after its app.

Both run each mode in turn, round after round (alternating, so background load hits every mode alike), and
keep every sample; :mod:`bench.stats` takes the medians.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
    false) with nothing configured at all, where obs is meant to fall back to local files."""

    mode: Mode
    configured: bool

    @property
    def name(self) -> str:
        return self.mode.name + ("" if self.configured else "-unconfigured")


def exit_samples(
    cases: list[ExitCase], rounds: int, app_seconds: float, limit: float
) -> dict[str, list[float]]:
    """Seconds from the app's last line (``APP_END``) to its process's exit; ``limit`` if it was killed."""
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    dead_port = free_port()  # closed again before use: nothing answers there
    for _ in range(rounds):
        for case in cases:
            env = environment(case.mode)
            env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
            if case.configured:
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{dead_port}"
            with tempfile.TemporaryDirectory() as project:  # obs's file fallback writes under the project
                samples[case.name].append(_linger(case, env, Path(project), app_seconds, limit))
    return samples


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
