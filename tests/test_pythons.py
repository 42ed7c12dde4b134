"""scripts/pythons.py: which Pythons obs supports, where they are on a machine, and what `make test` does when
one is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from scripts import pythons

ROOT = Path(__file__).resolve().parent.parent
THIS = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _pyenv_root(tmp_path: Path, *releases: str) -> Path:
    """A pyenv folder whose releases are this test's own interpreter under other names."""
    root = tmp_path / "pyenv"
    for release in releases:
        folder = root / "versions" / release / "bin"
        folder.mkdir(parents=True)
        (folder / "python").symlink_to(sys.executable)
    return root


def _unselected_shim(folder: Path, version: str) -> Path:
    """What pyenv leaves on PATH for a version that is installed but not selected: a command that fails."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / f"python{version}"
    shim.write_text(f"#!/bin/sh\necho 'pyenv: python{version}: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    return shim


def test_supported_versions_are_the_projects_classifiers(tmp_path: Path) -> None:
    """The list comes from pyproject.toml's `Programming Language :: Python :: 3.X` classifiers, oldest first;
    the project's own list names 3.11, 3.12 and 3.13, and the README says the same."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nclassifiers = [\n'
                         '  "Programming Language :: Python :: 3.13",\n'
                         '  "Programming Language :: Python :: 3",\n'
                         '  "Programming Language :: Python :: 3.9",\n'
                         '  "License :: OSI Approved",\n]\n')
    assert pythons.supported(pyproject) == ["3.9", "3.13"]
    assert pythons.supported() == ["3.11", "3.12", "3.13"]
    readme = (ROOT / "README.md").read_text()
    assert "3.11, 3.12 and 3.13" in readme


def test_an_interpreter_is_found_in_pyenv_when_its_shim_is_not_selected(tmp_path: Path) -> None:
    """A `python3.X` on PATH that does not run (pyenv's shim for a version not selected) is passed over; the
    newest patch release in pyenv's folder is taken, a free-threaded build (`t`) is not."""
    root = _pyenv_root(tmp_path, f"{THIS}.1", f"{THIS}.10", f"{THIS}.2", f"{THIS}.99t")
    shims = tmp_path / "shims"
    _unselected_shim(shims, THIS)
    env = {"PATH": str(shims), "PYENV_ROOT": str(root)}
    assert pythons.find(THIS, env) == str(root / "versions" / f"{THIS}.10" / "bin" / "python")


def test_an_interpreter_on_path_comes_first(tmp_path: Path) -> None:
    """`python3.X` on PATH that runs and is that version is used as it is."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / f"python{THIS}").symlink_to(sys.executable)
    env = {"PATH": str(folder), "PYENV_ROOT": str(_pyenv_root(tmp_path, f"{THIS}.5"))}
    assert pythons.find(THIS, env) == str(folder / f"python{THIS}")


def test_an_interpreter_of_another_version_under_the_right_name_is_refused(tmp_path: Path) -> None:
    """Each candidate is asked its version: a `python3.99` that is really this interpreter is not 3.99."""
    root = _pyenv_root(tmp_path, "3.99.0")
    assert pythons.find("3.99", {"PATH": "", "PYENV_ROOT": str(root)}) is None


@pytest.mark.parametrize(("ci", "code"), [("", 0), ("true", 1)])
def test_a_missing_version_is_one_line_locally_and_a_failure_in_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ci: str, code: int
) -> None:
    """With a supported version nowhere on the machine, `make test` says so in one line and goes on; in CI
    (CI=true), which must test them all, it fails naming it. This interpreter's own version is never run
    again (the full suite ran on it)."""
    env = {"PATH": "", "PYENV_ROOT": str(tmp_path / "none"), "CI": ci, "HOME": os.environ.get("HOME", "/")}
    assert pythons.test([], env, versions=[THIS, "3.99"]) == code
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("pythons: no Python 3.99 found")
    assert not any(THIS in line for line in said)
    if ci:
        assert said[-1] == "pythons: CI must test every supported Python; missing: 3.99"


def test_every_listed_test_file_exists() -> None:
    """The files run on every interpreter are real test files (a renamed one would silently run nothing)."""
    for name in pythons.EVERY_PYTHON_TESTS:
        assert (ROOT / name).is_file(), name
