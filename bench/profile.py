"""Where the request path's time goes under instrumentation: two views that check each other.

``layers``: the app called in-process with the OpenTelemetry pieces added one at a time (bench/layers.py);
the difference between two layers is that piece's cost in µs per request. A fresh interpreter per layer and
round, layers alternating, medians.

``spy``: py-spy samples (GIL holders only: what a sync worker's throughput is made of) of either one layer's
in-process loop (``--layer``) or the app served in a mode under wrk (``--mode``), charged to the parts of the
stack (bench/stacks.py) and turned into µs per request.

``micro``: µs per SDK operation (bench/micro.py), the unit costs the layers are made of.

Run: ``python -m bench.profile layers [--app flask|fastapi] [--requests 4000] [--rounds 5]``
     ``python -m bench.profile spy --app flask (--layer logs | --mode obs) [--seconds 10]``
     ``python -m bench.profile micro``
     ``python -m bench.profile batch --app flask`` (where the anchor's p99 comes from)
     ``python -m bench.profile boot [--rounds 15]`` (the agent's boot and shutdown, the boot's imports)
     ``python -m bench.profile startup-ab --against REV`` (start-up added: this checkout against REV)
     ``python -m bench.profile load-ab --against REV --app fastapi`` (throughput: this checkout against REV)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench import wrk
from bench.apps import ROOT, Running, modes
from bench.backends import every_backend
from bench.layers import LAYERS, child
from bench.micro import measure
from bench.peer import Peer
from bench.run import APPS
from bench.stacks import APP, CATEGORIES, breakdown

# The examples' apps: (kind, module:attribute, typical endpoint). --target KIND:MODULE:ATTR:PATH for others.
TARGETS = {
    "flask": ("wsgi", "examples.flask_app.app:app", "/get"),
    "fastapi": ("asgi", "examples.fastapi_app.app:app", "/get"),
}
Target = tuple[str, str, str]
SERVED = tuple(app.name for app in APPS)
"""The apps ``make bench`` serves, by name (``spy --served``, ``load-ab --app``)."""


def _child_env() -> dict[str, str]:
    """No telemetry settings from the caller; the repository first on the path (then the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _child_argv(target: Target, layer: str, amount: str, endpoint: str) -> list[str]:
    return [sys.executable, "-m", "bench.profile", "--child", *target, layer, amount, endpoint]


def layers(target: Target, requests: int, rounds: int, chosen: Sequence[str]) -> dict[str, list[float]]:
    """µs per request of each layer, one fresh interpreter per layer per round, layers alternating."""
    samples: dict[str, list[float]] = {layer: [] for layer in chosen}
    with Peer() as peer:
        for _ in range(rounds):
            for layer in chosen:
                done = subprocess.run(
                    _child_argv(target, layer, str(requests), peer.endpoint), cwd=ROOT, env=_child_env(),
                    capture_output=True, text=True, timeout=600, check=False,
                )
                if done.returncode != 0:
                    raise SystemExit(f"layer {layer} failed:\n{done.stderr[-3000:]}")
                samples[layer].append(json.loads(done.stdout.strip().splitlines()[-1])["us"])
                print(f"{layer}: {samples[layer][-1]:.1f} us/request", file=sys.stderr, flush=True)
    return samples


def _py_spy(pid: int, seconds: float, rate: int, output: Path) -> str:
    """Sample ``pid`` (threads apart, GIL holders only, without pausing it); the collapsed stacks."""
    subprocess.run(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format", "raw",
         "--threads", "--full-filenames", "--gil", "--nonblocking", "--rate", str(rate),
         "--duration", str(max(1, round(seconds))), "--output", str(output)],
        capture_output=True, check=True, timeout=seconds + 60,
    )
    return output.read_text()


def spy_server(app_name: str, mode_name: str, seconds: float, rate: int) -> tuple[str, float]:
    """The app served in a mode under wrk, its worker sampled: (collapsed stacks, µs of wall per request)."""
    app = next(a for a in APPS if a.name == app_name)
    with Peer() as peer, tempfile.TemporaryDirectory() as folder, \
            every_backend(set(app.needs), f"spy: {app_name}"):
        mode = next(m for m in modes(peer.endpoint, obs_default_is_full=False) if m.name == mode_name)
        script = str(Path(folder) / "report.lua")
        Path(script).write_text(wrk.REPORT_LUA)
        with Running(app, mode, Path(folder) / "app.log") as server:
            wrk.run(server.url, seconds=2, connections=4, script=script)
            worker = server.worker()
            loads: list[wrk.LoadResult] = []

            def load() -> None:
                loads.append(wrk.run(server.url, seconds=seconds + 2, connections=4, script=script))

            loader = threading.Thread(target=load)
            loader.start()
            time.sleep(1)
            raw = _py_spy(worker.pid, seconds, rate, Path(folder) / "stacks.txt")
            loader.join()
    return raw, 1e6 / loads[0].throughput


def spy_layer(target: Target, layer: str, seconds: float, rate: int) -> tuple[str, float]:
    """One layer's in-process loop, sampled after its warm-up: (collapsed stacks, µs per request)."""
    with Peer() as peer, tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen(
            _child_argv(target, layer, f"{seconds + 2}s", peer.endpoint), cwd=ROOT, env=_child_env(),
            stdout=subprocess.PIPE, text=True,
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "WARM":
            process.kill()
            raise SystemExit(f"layer {layer} did not start")
        time.sleep(0.5)
        raw = _py_spy(process.pid, seconds, rate, Path(folder) / "stacks.txt")
        result = json.loads(process.stdout.read().strip().splitlines()[-1])
        process.wait()
    return raw, float(result["us"])


# Anchor variants that show where p99 comes from: the export batch encoded while the GIL is held.
BATCH_VARIANTS: dict[str, dict[str, str] | None] = {
    "plain": None,
    "otel, 512-span batches (default)": {},
    "otel, 64-span batches": {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64"},
    "otel, 10% sampling": {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
}


def batch_sizes(app_name: str, rounds: int, seconds: float) -> None:
    """The app served plain and under opentelemetry-instrument with export batches of 512 and 64 spans, and
    at 10% sampling; alternating rounds, one line per run."""
    app = next(a for a in APPS if a.name == app_name)
    with Peer() as peer, tempfile.TemporaryDirectory() as folder:
        script = str(Path(folder) / "report.lua")
        Path(script).write_text(wrk.REPORT_LUA)
        known = {m.name: m for m in modes(peer.endpoint, obs_default_is_full=True)}
        for index in range(rounds):
            for label, extra in BATCH_VARIANTS.items():
                mode = known["plain"] if extra is None else replace(
                    known["otel"], env={**known["otel"].env, **extra})
                with Running(app, mode, Path(folder) / "app.log") as server:
                    wrk.run(server.url, seconds=2, connections=4, script=script)
                    load = wrk.run(server.url, seconds=seconds, connections=4, script=script)
                print(f"round {index + 1} {label:34} {load.throughput:6.0f} req/s  p50 {load.p50_ms:5.2f} "
                      f"ms  p90 {load.p90_ms:5.2f} ms  p99 {load.p99_ms:6.2f} ms", flush=True)


def _print_layers(samples: dict[str, list[float]]) -> None:
    medians = {layer: statistics.median(values) for layer, values in samples.items()}
    previous: float | None = None
    base = medians.get("plain")
    print(f"{'layer':16} {'us/request':>11} {'added by layer':>15} {'throughput vs plain':>20}")
    for layer, value in medians.items():
        step = "-" if previous is None or layer == "obs" else f"{value - previous:+.1f}"
        ratio = f"{base / value:.2f}" if base else "-"
        print(f"{layer:16} {value:11.1f} {step:>15} {ratio:>20}")
        if layer != "obs":
            previous = value


def _print_breakdown(raw: str, us_per_request: float, top: int, served: bool) -> None:
    """Shares of the GIL-holding samples, and those shares of the wall time per request: exact for the
    in-process loop (it always holds the GIL), an upper bound for a served app (it also waits on sockets)."""
    main, others, functions = breakdown(raw)
    total = main.total() + others.total()
    if not total:
        raise SystemExit("py-spy collected no samples")
    bound = " (served: the us column is an upper bound, the worker also waits on sockets)" if served else ""
    print(f"{us_per_request:.1f} us of wall per request; {total} GIL-holding samples{bound}")
    print(f"{'where':38} {'request thread':>15} {'other threads':>14} {'us/request':>11}")
    for name in [*(category for category, _ in CATEGORIES), APP]:
        mine, theirs = main[name] / total, others[name] / total
        print(f"{name:38} {mine:15.1%} {theirs:14.1%} {(mine + theirs) * us_per_request:11.1f}")
    print("\ntop OpenTelemetry/obs functions on the request thread (self + library code they call)")
    for function, count in functions.most_common(top):
        print(f"{count / total * us_per_request:8.1f} us  {count / total:6.1%}  {function}")


def _target(text: str) -> Target:
    kind, module, attribute, path = text.split(":", 3)
    if kind not in ("wsgi", "asgi"):
        raise SystemExit(f"--target: kind must be wsgi or asgi, not {kind!r}")
    return kind, f"{module}:{attribute}", path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")
    by_layer = sub.add_parser("layers", help="µs per request, one instrumentation layer at a time")
    by_spy = sub.add_parser("spy", help="py-spy breakdown of a layer in-process, or of a served mode")
    sub.add_parser("micro", help="µs per SDK operation (metrics record, span life cycle, OTLP encoding)")
    by_batch = sub.add_parser("batch", help="the anchor's p99 with 512- and 64-span export batches")
    by_batch.add_argument("--app", choices=sorted(TARGETS), default="flask")
    by_batch.add_argument("--rounds", type=int, default=2)
    by_batch.add_argument("--seconds", type=float, default=8)
    by_boot = sub.add_parser("boot", help="the agent's boot and shutdown, and the imports of its boot")
    by_boot.add_argument("--rounds", type=int, default=15)
    by_ab = sub.add_parser("startup-ab", help="start-up added: this checkout's obs against a revision's")
    by_ab.add_argument("--against", required=True, help="a git revision, e.g. HEAD~3")
    by_ab.add_argument("--rounds", type=int, default=10)
    by_ab.add_argument("--programs", default="logging,flask,fastapi", help="of pass, logging, flask, fastapi")
    by_load_ab = sub.add_parser("load-ab", help="throughput under obs: this checkout against a revision")
    by_load_ab.add_argument("--against", required=True, help="a git revision, e.g. HEAD~3")
    by_load_ab.add_argument("--app", choices=SERVED, default="fastapi")
    by_load_ab.add_argument("--rounds", type=int, default=4)
    by_load_ab.add_argument("--seconds", type=float, default=8)
    for command in (by_layer, by_spy):
        command.add_argument("--app", choices=sorted(TARGETS), default="flask")
        command.add_argument("--target", help="KIND:MODULE:ATTR:PATH of another app, e.g. "
                             "wsgi:myapp.web:app:/health (found through PYTHONPATH; in-process layers only)")
    by_layer.add_argument("--requests", type=int, default=4000)
    by_layer.add_argument("--rounds", type=int, default=5)
    by_layer.add_argument("--layers", default=",".join(LAYERS))
    by_spy.add_argument("--served", choices=SERVED, help="with --mode: serve this bench app instead of --app "
                        "(flask-db and flask-task start their PostgreSQL or Redis)")
    what = by_spy.add_mutually_exclusive_group(required=True)
    what.add_argument("--layer", choices=LAYERS)
    what.add_argument("--mode", choices=("obs", "obs-full", "otel", "plain"))
    by_spy.add_argument("--seconds", type=float, default=10)
    by_spy.add_argument("--rate", type=int, default=250)
    by_spy.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "batch":
        batch_sizes(args.app, args.rounds, args.seconds)
        return 0
    if args.command == "boot":
        from bench import boot

        boot.report(args.rounds)
        return 0
    if args.command == "startup-ab":
        from bench import startup_ab

        startup_ab.compare(args.against, args.rounds, [p for p in args.programs.split(",") if p])
        return 0
    if args.command == "load-ab":
        from bench import load_ab

        load_ab.compare(args.against, args.app, args.rounds, args.seconds)
        return 0
    if args.command == "micro":
        for operation, us in measure():
            print(f"{us:8.2f} us  {operation}")
        return 0
    target = _target(args.target) if args.target else TARGETS[args.app]
    if args.command == "layers":
        _print_layers(layers(target, args.requests, args.rounds, [x for x in args.layers.split(",") if x]))
    elif args.layer:
        _print_breakdown(*spy_layer(target, args.layer, args.seconds, args.rate), args.top, served=False)
    else:
        served = args.served or args.app
        _print_breakdown(*spy_server(served, args.mode, args.seconds, args.rate), args.top, served=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
