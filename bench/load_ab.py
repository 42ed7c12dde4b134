"""Throughput under obs at its defaults, this checkout's obs against another revision's, both from wheels.

``python -m bench.profile load-ab --against REV [--app fastapi] [--rounds 4] [--seconds 8]``. Both sides are
installed as for ``startup-ab`` (bench/startup_ab.py); each round serves the app plain and under ``obs run``
from each side in turn (bench.apps.Running, a fresh app each time), 2 s of warm-up then ``--seconds`` of wrk
load (4 connections). Reported per side: obs's throughput as a ratio of the same side's plain run, per round
and the median.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bench import apps, wrk
from bench.backends import every_backend
from bench.peer import Peer
from bench.run import APPS
from bench.startup_ab import installed_sides


def compare(against: str, app_name: str, rounds: int, seconds: float) -> None:
    sides = installed_sides(against)
    app = next(app for app in APPS if app.name == app_name)
    ratios: dict[str, list[float]] = {side: [] for side in sides}
    with Peer() as peer, tempfile.TemporaryDirectory(prefix="obs-load-ab-") as scratch, \
            every_backend(set(app.needs), f"load-ab: {app_name}"):
        script = str(Path(scratch) / "report.lua")
        Path(script).write_text(wrk.REPORT_LUA)
        for _ in range(rounds):
            for side, (bin_folder, app_dir) in sides.items():
                apps.serve_from(bin_folder, app_dir)
                by_name = {mode.name: mode for mode in apps.modes(peer.endpoint, obs_default_is_full=False)}
                served = {}
                for name in ("plain", "obs"):
                    with apps.Running(app, by_name[name], Path(scratch) / f"{name}.log") as server:
                        wrk.run(server.url, seconds=2, connections=4, script=script)
                        served[name] = wrk.run(server.url, seconds=seconds, connections=4, script=script)
                ratios[side].append(served["obs"].throughput / served["plain"].throughput)
    for side, values in ratios.items():
        print(f"{app_name} {side:16} obs/plain per round {' '.join(f'{v:.3f}' for v in values)}, "
              f"median {statistics.median(values):.3f}")
