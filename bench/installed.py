"""obs as a user installs it: a virtual environment of its own, obs from its wheel, the examples' libraries.

Why: this checkout's ``.venv`` is a developer's. obs is installed there in editable mode, and every
interpreter started in it runs setuptools' editable finder and the ``.pth`` hooks of the dev tools (about
17 ms more than a plain venv's start on this machine). Plain and instrumented apps would pay that alike, but
``obs run`` starts one interpreter more (its launcher) and would be charged it twice. The bench therefore
serves the apps from ``.bench-venv``: ``pip install .[examples]`` (obs built into a wheel, installed with its
bytecode, as from a package index), refreshed from the checkout at every run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["VENV", "prepare"]

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venv"


def _requirements_key(source: Path) -> str:
    """What the venv's libraries depend on: the project's metadata (dependencies and extras)."""
    return hashlib.sha256((source / "pyproject.toml").read_bytes()).hexdigest()


def _pip(venv: Path, source: Path, *arguments: str) -> None:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    done = subprocess.run([*pip, *arguments], cwd=source, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise SystemExit(f"bench: installing obs into {venv.name} failed: {said}")


def prepare(venv: Path = VENV, source: Path = ROOT, python: str = sys.executable) -> tuple[Path, Path]:
    """The venv's ``bin`` folder, with the libraries installed (once per change of pyproject.toml) and obs
    reinstalled from ``source`` (this checkout's current code by default); and the apps' working folder,
    where ``examples`` is this checkout's (a link) and no ``obs`` source folder shadows the installed obs.
    ``python`` makes the venv (``bench.pythons`` makes one per supported version)."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    key, stamp = _requirements_key(source), venv / ".requirements"
    if not stamp.exists() or stamp.read_text() != key:
        _pip(venv, source, "install", ".[examples]")
        stamp.write_text(key)
    leftover = source / "build"
    had_build_folder = leftover.exists()
    _pip(venv, source, "install", "--no-deps", "--force-reinstall", ".")
    if not had_build_folder:
        shutil.rmtree(leftover, ignore_errors=True)  # setuptools' in-tree build: stale copies of the code
    apps = venv / "apps"
    apps.mkdir(exist_ok=True)
    examples = apps / "examples"
    if not examples.is_symlink():
        examples.symlink_to(ROOT / "examples", target_is_directory=True)
    return venv / "bin", apps
