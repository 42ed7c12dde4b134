"""Start-up added by this checkout's obs against another revision's, both installed from their wheels.

``python -m bench.profile startup-ab --against REV [--rounds 10] [--programs logging,flask]``. The revision is
checked out in a scratch worktree and installed into ``.bench-venv-ab`` (bench/installed.py); then each
program of ``bench.process.PROGRAMS`` runs plain and under ``obs run`` in both venvs, all alternating, so
that the machine's slow and fast moments fall on both alike. Reported per program and side: the paired
median of (obs run - plain) of the same round, its first quartile, and plain's median.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench import apps, installed
from bench.apps import ROOT
from bench.peer import Peer
from bench.process import PROGRAMS

SHORT_NAMES = {
    "pass": "`python -c pass`",
    "logging": "`python -c 'import logging'`",
    "flask": "Flask example: import, first `/get`",
    "fastapi": "FastAPI example: import, first `/get`",
}
AB_VENV = ROOT / ".bench-venv-ab"


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def installed_sides(against: str) -> dict[str, tuple[Path, Path]]:
    """Side name -> (bin folder, apps folder): this checkout in .bench-venv, ``against`` in .bench-venv-ab."""
    with tempfile.TemporaryDirectory(prefix="obs-ab-") as scratch:
        worktree = Path(scratch) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), against], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            return {"this checkout": installed.prepare(), against: installed.prepare(AB_VENV, worktree)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False,
                           capture_output=True)


def compare(against: str, rounds: int, programs: list[str]) -> None:
    sides = installed_sides(against)
    spent: dict[tuple[str, str, str], list[float]] = {}
    with Peer() as peer:
        for index in range(rounds + 1):
            for program in programs:
                code = PROGRAMS[SHORT_NAMES[program]]
                for side, (bin_folder, app_folder) in sides.items():
                    apps.serve_from(bin_folder, app_folder)  # the bench's own modes, from this side's venv
                    plain_mode, obs_mode = apps.modes(peer.endpoint, obs_default_is_full=True)[:2]
                    for mode in (plain_mode, obs_mode):
                        command = [*mode.wrapper, apps.app_python(), "-c", code]
                        elapsed = _timed(command, apps.environment(mode), app_folder)
                        if index:  # the first round warms the page cache
                            spent.setdefault((program, side, mode.name), []).append(elapsed)
    for program in programs:
        for side in sides:
            plain, under_obs = spent[(program, side, "plain")], spent[(program, side, "obs")]
            added = sorted(b - a for a, b in zip(plain, under_obs, strict=True))
            print(f"{program:8} {side:16} added: median {statistics.median(added) * 1000:6.1f} ms, "
                  f"first quartile {added[len(added) // 4] * 1000:6.1f} ms; plain median "
                  f"{statistics.median(plain) * 1000:6.1f} ms")
