"""The CPythons obs supports, found on this machine, and the part of the suite that runs on each.

The supported versions are the ``Programming Language :: Python :: 3.X`` classifiers of pyproject.toml (one
list; the README repeats it). ``make test`` runs the whole suite on the default interpreter (the one of
``.venv``, which runs this script), then this script's ``test`` command runs the tests where interpreters
differ (the agent's process model, logging, exit and ``obs init``: :data:`EVERY_PYTHON_TESTS`) on each other
supported version, each in a virtual environment of its own (``.venv-3.X``, remade when pyproject.toml
changes). A supported version that cannot be found is a failure in CI (``CI`` set, as CI machines carry every
one) and one line locally.

Where an interpreter is looked for: ``python3.X`` on PATH (a pyenv shim that is not selected does not count:
each candidate is run and asked its version), then pyenv's own folder (``$PYENV_ROOT`` or ``~/.pyenv``),
newest patch release first.

Usage::

    python scripts/pythons.py list              # each supported version: the interpreter, or "missing"
    python scripts/pythons.py test [PYTEST ARGS] # the tests above on every supported version but this one's
                                                # (on $TEST_WORKERS processes, 2 by default)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EVERY_PYTHON_TESTS = (
    "tests/test_agent_lifecycle.py",
    "tests/test_agent_exit.py",
    "tests/test_agent_fork.py",
    "tests/test_agent_imports.py",
    "tests/test_agent_meters.py",
    "tests/test_run_cli.py",
    "tests/test_run_workers.py",
    "tests/test_logs_bridges.py",
    "tests/test_logs_console.py",
    "tests/test_logs_processor.py",
    "tests/test_init.py",
    "tests/test_init_edits.py",
    "tests/test_init_pipenv.py",
    "tests/test_detect.py",
)
"""Where interpreters differ for obs: threads and forks at start and exit, imports, logging, ``obs init``."""

EXTRA = "tests"
"""The extra installed in each other interpreter's venv: the examples' libraries and pytest, not the dev
tools (mypy, the dashboards' linter), which run once, on the default interpreter."""

_NO_TESTS_COLLECTED = 5
"""pytest's exit code when the files hold no test marked serial."""

_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)$")


def supported(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The supported ``3.X`` versions, oldest first, from the project's classifiers."""
    classifiers = tomllib.loads(pyproject.read_text())["project"].get("classifiers", [])
    found = {match.group(1) for text in classifiers if (match := _CLASSIFIER.match(text))}
    return sorted(found, key=lambda version: tuple(map(int, version.split("."))))


def _version_of(interpreter: str) -> str | None:
    """``3.X`` when ``interpreter`` runs, is CPython and can make a venv with pip; else None."""
    code = ("import sys, ensurepip, venv; "
            "print(sys.implementation.name, '%d.%d' % sys.version_info[:2])")
    try:
        done = subprocess.run([interpreter, "-c", code], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name, _, version = done.stdout.strip().partition(" ")
    return version if done.returncode == 0 and name == "cpython" else None


def _pyenv_root(env: dict[str, str]) -> Path:
    return Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _candidates(version: str, env: dict[str, str]) -> Iterator[str]:
    on_path = shutil.which(f"python{version}", path=env.get("PATH"))
    if on_path:
        yield on_path
    releases = _pyenv_root(env) / "versions"
    pattern = re.compile(rf"{re.escape(version)}\.(\d+)$")  # 3.13.0, not 3.13.0t or 3.13-dev
    numbered = [(int(match.group(1)), folder) for folder in (releases.iterdir() if releases.is_dir() else ())
                if (match := pattern.match(folder.name))]
    for _, folder in sorted(numbered, reverse=True):
        yield str(folder / "bin" / "python")


def find(version: str, env: dict[str, str] | None = None) -> str | None:
    """An interpreter of ``version`` (``3.X``) on this machine, or None."""
    env = dict(os.environ) if env is None else env
    return next((path for path in _candidates(version, env) if _version_of(path) == version), None)


def current() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _venv(version: str, interpreter: str) -> Path:
    """``.venv-3.X`` with obs (editable) and :data:`EXTRA`, remade when pyproject.toml is newer."""
    venv = ROOT / f".venv-{version}"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime:
        return venv
    sys.stdout.write(f"pythons: setting up {venv.name} ({interpreter})\n")  # one write: made side by side
    sys.stdout.flush()
    subprocess.run([interpreter, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f".[{EXTRA}]"], cwd=ROOT, check=True)
    stamp.touch()
    return venv


def others(env: dict[str, str], versions: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Of ``versions``, those other than this interpreter's: found (version -> interpreter), and missing."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for version in versions:
        if version == current():
            continue
        interpreter = find(version, env)
        if interpreter is None:
            missing.append(version)
        else:
            found[version] = interpreter
    return found, missing


def _in_ci(env: dict[str, str]) -> bool:
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def test(pytest_args: Sequence[str], env: dict[str, str], versions: Sequence[str] | None = None,
         workers: int = 2) -> int:
    """:data:`EVERY_PYTHON_TESTS` on each other supported version; non-zero if any failed, or (CI) if a
    supported version is missing."""
    found, missing = others(env, supported() if versions is None else versions)
    for version in missing:
        print(f"pythons: no Python {version} found (python{version} on PATH, or "
              f"{_pyenv_root(env)}/versions/{version}.*): its tests are skipped", flush=True)
    failed = []
    with ThreadPoolExecutor() as pool:  # the venvs are made side by side: mostly downloads and unpacking
        venvs = dict(zip(found, pool.map(_venv, found, found.values()), strict=True))
    for version, venv in venvs.items():
        print(f"pythons: Python {version}: {len(EVERY_PYTHON_TESTS)} test files", flush=True)
        pytest = [str(venv / "bin" / "python"), "-m", "pytest", "-q", *EVERY_PYTHON_TESTS]
        # as `make pytest` does: the others on WORKERS processes, then those marked serial alone
        side_by_side = subprocess.run([*pytest, "-n", str(workers), "--dist", "loadfile", "-m", "not serial",
                                       *pytest_args], cwd=ROOT, check=False)
        alone = subprocess.run([*pytest, "-m", "serial", *pytest_args], cwd=ROOT, check=False)
        if side_by_side.returncode != 0 or alone.returncode not in (0, _NO_TESTS_COLLECTED):
            failed.append(version)
    if failed:
        print(f"pythons: tests failed on Python {', '.join(failed)}", flush=True)
        return 1
    if missing and _in_ci(env):
        print(f"pythons: CI must test every supported Python; missing: {', '.join(missing)}", flush=True)
        return 1
    return 0


def main(argv: Sequence[str]) -> int:
    env = dict(os.environ)
    command = argv[0] if argv else "list"
    if command == "list":
        for version in supported():
            print(f"{version} {find(version, env) or 'missing'}")
        return 0
    if command == "test":
        return test(argv[1:], env, workers=int(env.get("TEST_WORKERS") or 2))
    print(f"pythons: unknown command {command!r}; use list or test", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
