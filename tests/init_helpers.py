"""Shared by the `obs init` tests: fixture projects copied into tmp_path, the real CLI, file snapshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["FIXTURES", "copy_fixture", "obs_init", "snapshot", "without_dac_override"]

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_OBS = Path(sys.executable).parent / "obs"


def copy_fixture(name: str, tmp_path: Path) -> Path:
    """A fresh copy of ``tests/fixtures/<name>``: `obs init` must never touch the originals."""
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def without_dac_override() -> list[str]:
    """A command prefix under which the mode bits bind, so that permission errors can be tested as root.

    As root (who may write anywhere) the command stays root but without CAP_DAC_OVERRIDE, through setpriv:
    the checkout it runs from stays readable wherever it lives (running as `nobody` fails when the checkout
    is in a private folder). Not root: no prefix. Root without setpriv: the test is skipped.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot take write permission away")
    return [setpriv, "--bounding-set=-dac_override", "--inh-caps=-dac_override"]


def obs_init(
    *args: str | Path, stdin: int | None = subprocess.DEVNULL, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``obs init`` console script (as a user would) and capture its output.

    ``prefix`` wraps the command (:func:`without_dac_override`, to take root's write-anywhere away).
    """
    command = [*prefix, *([str(_OBS)] if _OBS.is_file() else [sys.executable, "-m", "obs"])]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "OBS_"))}
    return subprocess.run(
        [*command, "init", *map(str, args)],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "NO_COLOR": "1"},
        check=False,
    )


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: relative path -> (content, mtime in ns), to prove nothing was rewritten."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
