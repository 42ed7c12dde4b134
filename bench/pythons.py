"""Start-up added and exit delay on every supported Python found here (``BENCH_ONLY=pythons``).

Why: the agent's costs are set by the interpreter as much as by obs (import times, thread rules at exit:
Python 3.12 refuses new threads in atexit handlers). Each supported version (scripts/pythons.py: the
project's classifiers, found on PATH or in pyenv) gets a venv of its own, ``.bench-venv-3.X``, made as
:mod:`bench.installed` makes ``.bench-venv`` (obs from its wheel); the running interpreter's version uses
``.bench-venv`` itself. Measured there, plain against ``obs run``: the start-up of ``python -c pass`` and of
``python -c 'import logging'`` (where obs boots its agent), and the exit delay of bench/exit_app.py with an
endpoint that does not answer and with none configured (the file fallback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import apps, installed
from bench.apps import ROOT, app_dir, modes, serve_from
from bench.process import PROGRAMS, ExitCase, exit_samples, startup_samples
from scripts.pythons import find, supported

__all__ = ["PROGRAMS_PER_PYTHON", "PythonRow", "measure"]

PROGRAMS_PER_PYTHON = ("`python -c pass`", "`python -c 'import logging'`")
"""The start-up programs timed on each interpreter (the example apps' start-up is the main table's)."""


@dataclass
class PythonRow:
    """One interpreter's figures: samples per start-up program and mode, and exit delays per case."""

    version: str
    interpreter: str
    startup: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    exits: dict[str, list[float]] = field(default_factory=dict)
    problem: str = ""
    """Why this interpreter has no figures (its venv could not be made, a run failed); empty otherwise."""


def _venv_for(version: str, interpreter: str) -> Path:
    """``.bench-venv`` for the running interpreter's version, ``.bench-venv-3.X`` for the others."""
    if version == f"{sys.version_info[0]}.{sys.version_info[1]}":
        return installed.VENV
    return ROOT / f".bench-venv-{version}"


def measure(
    peer_endpoint: str,
    startup_rounds: int,
    exit_rounds: int,
    exit_app_s: float,
    exit_limit_s: float,
    say: Callable[[str], None],
    env: Mapping[str, str] | None = None,
) -> list[PythonRow]:
    """Every supported version: found and measured, or a row saying why not. The apps' interpreter is set
    back to what it was afterwards."""
    environ = dict(os.environ if env is None else env)
    rows: list[PythonRow] = []
    before = (apps.BIN, app_dir())
    try:
        for version in supported():
            interpreter = find(version, environ)
            if interpreter is None:
                rows.append(PythonRow(version, "", problem="not found on this machine"))
                continue
            row = PythonRow(version, interpreter)
            rows.append(row)
            say(f"Python {version}: {interpreter}")
            try:
                serve_from(*installed.prepare(_venv_for(version, interpreter), python=interpreter))
                plain, obs = modes(peer_endpoint, obs_default_is_full=True)[:2]
                programs = {name: PROGRAMS[name] for name in PROGRAMS_PER_PYTHON}
                row.startup = startup_samples([plain, obs], startup_rounds, programs)
                row.exits = exit_samples([ExitCase(obs, True), ExitCase(obs, False)], exit_rounds,
                                         exit_app_s, exit_limit_s)
            except (RuntimeError, SystemExit, OSError) as error:
                said = str(error).strip()
                row.problem = said.splitlines()[0] if said else type(error).__name__
                say(f"Python {version} failed: {row.problem}")
    finally:
        serve_from(*before)
    return rows
