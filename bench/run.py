"""``python -m bench.run``: the whole overhead benchmark, written to docs/benchmarks.md.

Environment:
    BENCH_QUICK=1        one short round of everything (smoke run; prints, does not rewrite the docs)
    BENCH_ROUNDS=N       rounds per configuration (default 3)
    BENCH_SECONDS=S      measured load per round (default 10)
    BENCH_ONLY=a,b       only these parts: load, startup, exit, loguru, pythons
    BENCH_DOCS=0|1       write docs/benchmarks.md (default: 1 unless quick)
    BENCH_SCRUB_AB=1     add the mode "obs run (defaults), scrubbing off" (OBS_SCRUB=off): scrubbing's A/B
    BENCH_EDITABLE=1     serve the apps from this checkout's .venv (obs editable) instead of .bench-venv,
                         where obs is installed from its wheel as users get it (bench/installed.py)
    BENCH_APPS=a,b       only these apps of the load part (flask, fastapi, flask-db, flask-task)
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import installed, loguru_bench, pythons, report, wrk
from bench.apps import (
    ROOT,
    App,
    Mode,
    Running,
    app_dir,
    app_python,
    environment,
    gunicorn,
    gunicorn_django,
    gunicorn_gevent,
    migrate_django,
    modes,
    serve_from,
    uvicorn,
)
from bench.backends import backends
from bench.peer import OTLP_PATHS, Peer
from bench.process import ExitCase, compile_obs, exit_samples, startup_samples
from bench.stats import Round, samples_everything, summarize

PARTS = ("load", "startup", "exit", "loguru", "pythons")
CONNECTIONS = 4

# The examples' typical JSON endpoint (an httpbin-style /get echo), served as a user would deploy them.
APPS = (
    App("flask", "Flask example under gunicorn (1 sync worker)", gunicorn("examples.flask_app.app:app"),
        "/get"),
    App("fastapi", "FastAPI example under uvicorn (1 process)", uvicorn("examples.fastapi_app.app:app"),
        "/get"),
    # Work outside the request: a PostgreSQL read through SQLAlchemy (engine made at import) over psycopg 3,
    # and a Celery task enqueued on a Redis broker (no worker: the request's cost is the publish).
    App("flask-db", "Flask example, PostgreSQL read (SQLAlchemy + psycopg 3), gunicorn 1 sync worker",
        gunicorn("examples.flask_app.app:app"), "/orders/1", folder="flask_app", needs=("postgresql",)),
    App("flask-task", "Flask example, Celery task enqueued on Redis, gunicorn 1 sync worker",
        gunicorn("examples.flask_app.app:app"), "/orders/1/notify", folder="flask_app", needs=("redis",)),
    App("django", "Django example under gunicorn (1 sync worker), an ORM read on sqlite",
        gunicorn_django("examples/django_app", "mysite.wsgi"), "/items/pear/",
        prepare=migrate_django("examples/django_app")),
    App("gevent", "Flask example under gunicorn (1 gevent worker)",
        gunicorn_gevent("examples.flask_app.app:app"), "/get", folder="flask_app"),
)


@dataclass(frozen=True)
class Plan:
    """How much of everything to do; quick mode shrinks it to a smoke run."""

    quick: bool
    rounds: int
    seconds: float
    warmup_s: float
    startup_rounds: int
    python_startup_rounds: int
    exit_rounds: int
    exit_app_s: float
    exit_limit_s: float
    loguru_lines: int
    loguru_rounds: int
    parts: tuple[str, ...]
    docs: bool
    editable: bool

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Plan:
        quick = env.get("BENCH_QUICK", "") not in ("", "0")
        parts = tuple(p for p in env.get("BENCH_ONLY", ",".join(PARTS)).split(",") if p)
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            raise SystemExit(f"bench: unknown BENCH_ONLY part(s) {', '.join(unknown)}; choose from {PARTS}")
        return cls(
            quick=quick,
            rounds=int(env.get("BENCH_ROUNDS", "1" if quick else "3")),
            seconds=float(env.get("BENCH_SECONDS", "3" if quick else "10")),
            warmup_s=1.0 if quick else 2.0,
            startup_rounds=3 if quick else 15,
            python_startup_rounds=2 if quick else 10,
            exit_rounds=1 if quick else 3,
            exit_app_s=2.0 if quick else 6.0,
            exit_limit_s=30.0 if quick else 60.0,
            loguru_lines=10_000 if quick else 50_000,
            loguru_rounds=1 if quick else 3,
            parts=parts,
            docs=env.get("BENCH_DOCS", "0" if quick else "1") not in ("", "0"),
            editable=env.get("BENCH_EDITABLE", "") not in ("", "0"),
        )


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _probe_sampler(mode: Mode) -> tuple[str | None, str]:
    """The tracer provider's sampler inside a process launched in ``mode``, or None and the reason when no SDK
    provider is set (the wrapper did not start an agent: obs run not available, or broken)."""
    code = (
        "import logging\n"  # obs run boots its agent lazily, on the first import worth observing
        "from opentelemetry import trace\n"
        "p = trace.get_tracer_provider()\n"
        "s = getattr(p, 'sampler', None)\n"
        "print('SAMPLER', s.get_description() if s is not None else '-')\n"
    )
    done = subprocess.run(
        [*mode.wrapper, app_python(), "-c", code], env=environment(mode), cwd=app_dir(),
        capture_output=True, text=True, timeout=120, check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("SAMPLER ") and line != "SAMPLER -":
            return line.split(" ", 1)[1], ""
    said = [line for line in done.stderr.splitlines() if line.strip()]
    return None, said[-1] if said else f"exit {done.returncode}, no SDK tracer provider"


def _machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for package in ("opentelemetry-sdk", "opentelemetry-instrumentation", "flask", "fastapi", "django",
                    "gunicorn", "uvicorn", "loguru"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # a missing package is just not listed
            continue
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
    return {
        "CPU": f"{os.cpu_count()} x {cpu}",
        "Python": platform.python_version(),
        "packages": ", ".join(f"{name} {v}" for name, v in versions.items()),
        "wrk": wrk_version.split(" [")[0].strip() or "?",
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _serve_and_load(app: App, mode: Mode, plan: Plan, log: Path, script: str) -> tuple[wrk.LoadResult, float]:
    """Start the app fresh, warm it up, measure; the load and the worker's RSS (MiB) right after it."""
    with Running(app, mode, log) as server:
        wrk.run(server.url, seconds=plan.warmup_s, connections=CONNECTIONS, script=script)
        load = wrk.run(server.url, seconds=plan.seconds, connections=CONNECTIONS, script=script)
        return load, server.worker().memory_info().rss / 2**20


def _agent_lines(log: Path, most: int = 3) -> list[str]:
    """What the agent told the app's console (its lines start with ``obs:``): drops, export failures."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return list(dict.fromkeys(line.strip() for line in lines if line.startswith("obs:")))[:most]


def _measure_load(
    plan: Plan, apps: list[App], all_modes: list[Mode], peer: Peer, logs: Path, notes: list[str]
) -> list[Round]:
    """Every app in every mode, each round; a configuration that fails is noted and left out from then on."""
    rounds: list[Round] = []
    broken: set[tuple[str, str]] = set()
    script = str(logs / "report.lua")
    Path(script).write_text(wrk.REPORT_LUA)
    for index in range(plan.rounds):
        shift = index % len(all_modes)
        order = all_modes[shift:] + all_modes[:shift]
        for app in apps:
            for mode in order:
                if (app.name, mode.name) in broken:
                    continue
                before = peer.stats()["bytes"]
                log = logs / f"{app.name}-{mode.name}-{index}.log"
                try:
                    load, rss = _serve_and_load(app, mode, plan, log, script)
                except RuntimeError as error:
                    broken.add((app.name, mode.name))
                    notes.append(f"{app.name} under {mode.name} failed in round {index + 1}, left out: "
                                 + _first_line(error))
                    _say(str(error))
                    continue
                said = _agent_lines(log)
                if said:
                    notes.append(f"{app.name} under {mode.name}, round {index + 1}, the agent said: "
                                 + " / ".join(said))
                time.sleep(0.2)  # the peer counts the final flush's bytes
                after = peer.stats()["bytes"]
                exported = {p.rsplit("/", 1)[1]: after.get(p, 0) - before.get(p, 0) for p in OTLP_PATHS}
                rounds.append(Round(app.name, mode.name, index, load, rss, exported))
                failed = load.errors + load.non_2xx
                _say(f"round {index + 1}/{plan.rounds} {app.name:8} {mode.name:9} {load.throughput:7.0f} "
                     f"req/s p99 {load.p99_ms:6.2f} ms  rss {rss:5.1f} MiB  failed {failed}")
    return rounds


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _choose_modes(peer: Peer, notes: list[str]) -> list[Mode]:
    """The modes to run: obs only when `obs run` really starts an agent, and at 100% sampling as well when
    that is not its default."""
    scrub_off = os.environ.get("BENCH_SCRUB_AB", "") not in ("", "0")
    all_modes = modes(peer.endpoint, obs_default_is_full=True, scrub_off=scrub_off)
    obs_sampler, problem = _probe_sampler(all_modes[1])
    if obs_sampler is None:
        notes.append(f"`obs run` did not start an SDK tracer provider ({problem}): obs modes skipped.")
        return [m for m in all_modes if not m.name.startswith("obs")]
    notes.append(f"obs's default sampler: {obs_sampler}.")
    return modes(peer.endpoint, obs_default_is_full=samples_everything(obs_sampler), scrub_off=scrub_off)


def _measure(plan: Plan, results: report.Results, apps: list[App], all_modes: list[Mode], peer: Peer,
             scratch: Path) -> None:
    """Each part the plan asks for; a part that fails leaves a note and the others still run."""
    process_modes = [mode for mode in all_modes if mode.name != "obs-full"]  # no spans: sampling is moot
    for part in plan.parts:
        _say(f"{part}")
        try:
            if part == "load" and apps:
                rounds = _measure_load(plan, apps, all_modes, peer, scratch, results.notes)
                results.summaries = summarize(rounds)
            elif part == "startup":
                results.startup = startup_samples(process_modes, plan.startup_rounds)
            elif part == "exit":
                cases = [ExitCase(m, True) for m in process_modes]
                cases += [ExitCase(m, False) for m in process_modes if m.name == "obs"]
                cases += [ExitCase(m, True, mute=True) for m in process_modes if m.name in ("plain", "obs")]
                cases += [ExitCase(m, True, mute=True, server=True) for m in process_modes
                          if m.name in ("plain", "obs")]
                results.exits = exit_samples(cases, plan.exit_rounds, plan.exit_app_s, plan.exit_limit_s)
            elif part == "pythons":
                results.pythons = pythons.measure(peer.endpoint, plan.python_startup_rounds, plan.exit_rounds,
                                                  plan.exit_app_s, plan.exit_limit_s, _say)
            elif part == "loguru":
                results.loguru_lines = plan.loguru_lines
                results.loguru = loguru_bench.measure(plan.loguru_lines, plan.loguru_rounds)
        except (RuntimeError, SystemExit, subprocess.SubprocessError) as error:
            results.notes.append(f"{part} failed: {_first_line(error)}")
            _say(f"{part} failed: {error}")


def main() -> int:
    plan = Plan.from_env(dict(os.environ))
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items())
                          if k.startswith("BENCH_")), "make bench"])
    started = time.perf_counter()
    if plan.editable:
        compile_obs()  # the editable checkout, under PYTHONDONTWRITEBYTECODE: no bytecode unless written
    else:
        _say(f"installing obs from its wheel into {installed.VENV.name}")
        serve_from(*installed.prepare())
    notes: list[str] = []
    chosen = [app for app in APPS if app.name in os.environ.get("BENCH_APPS", app.name).split(",")]
    needed = {server for app in chosen if "load" in plan.parts for server in app.needs}
    with Peer() as peer, tempfile.TemporaryDirectory(prefix="obs-bench-") as scratch, \
            backends(needed, notes) as running:
        all_modes = _choose_modes(peer, notes)
        apps = [app for app in chosen if (ROOT / "examples" / app.example).is_dir()
                and set(app.needs) <= running]
        if len(apps) < len(chosen):
            notes.append("apps left out: " + ", ".join(a.name for a in chosen if a not in apps) + ".")
        results = report.Results(
            command=command, quick=plan.quick, method={"connections": CONNECTIONS, **asdict(plan)},
            machine=_machine(), apps={app.name: app.title for app in apps},
            modes={mode.name: mode.title for mode in all_modes}, exit_limit=plan.exit_limit_s, notes=notes,
        )
        _measure(plan, results, apps, all_modes, peer, Path(scratch))
    results.machine["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    results.machine["bench duration"] = f"{time.perf_counter() - started:.0f} s"
    text = report.render(results)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (results_dir / f"{stamp}.json").write_text(json.dumps(asdict(results), indent=1))
    (results_dir / f"{stamp}.md").write_text(text)
    print(text)
    if plan.docs:
        report.write(ROOT / "docs" / "benchmarks.md", text)
        _say("wrote docs/benchmarks.md and bench/results/" + stamp + ".json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
