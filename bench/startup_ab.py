"""Start-up added by this checkout's obs against another revision's, both installed from their wheels.

``python -m bench.profile startup-ab --against REV [--rounds 10] [--programs logging,flask]``. The revision is
checked out in a scratch worktree and installed into ``.bench-venv-ab`` (bench/installed.py); then each
program of ``bench.process.PROGRAMS`` runs plain and under ``obs run`` in both venvs, all alternating, so
that the machine's slow and fast moments fall on both alike. Reported per program and side: the paired
median of (obs run - plain) of the same round, its first quartile, and plain's median; in wall time, and in
CPU time (user + system of the process, from ``RUSAGE_CHILDREN``): on a machine shared with other work, wall
time is mostly the scheduler's (a 10-20 ms change drowns), while CPU time is the work obs adds.
"""

from __future__ import annotations

import resource
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


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` (``obs run`` execs the app: one process, counted once)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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
    spent: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
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
            for index, measure in ((0, "wall"), (1, "CPU")):
                plain = [sample[index] for sample in spent[(program, side, "plain")]]
                under_obs = [sample[index] for sample in spent[(program, side, "obs")]]
                added = sorted(b - a for a, b in zip(plain, under_obs, strict=True))
                median, quartile = statistics.median(added) * 1000, added[len(added) // 4] * 1000
                print(f"{program:8} {side:16} {measure:4} added: median {median:6.1f} ms, first quartile "
                      f"{quartile:6.1f} ms; plain median {statistics.median(plain) * 1000:6.1f} ms")
