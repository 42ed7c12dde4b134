"""``make demo``: the Flask example under ``obs run``, some traffic, then ``obs view``. No Docker needed.

Steps: start the upstream service (a thread here), start the app under ``obs run -- gunicorn -w 2 ...`` with
nothing listening on localhost:4318 so the agent falls back to local OTLP-JSON files, send a bounded mix of
requests (errors included), stop the app with SIGTERM as a supervisor would, and show what was captured with
``obs view``. Every step has a time limit; the whole demo takes about 15 seconds.

If something already answers on localhost:4318 (a collector you run), the demo sets OTEL_TRACES_EXPORTER,
OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER to ``file`` so that the telemetry still lands where ``obs view``
reads it, and says so.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python examples/demo.py`: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples import traffic
from examples.launch import APPS, ROOT, free_port, wait_until_answers
from examples.shop import DB_ENV, UPSTREAM_ENV
from examples.upstream import Upstream

BIN = Path(sys.executable).parent
SIGNALS = ("traces", "metrics", "logs")


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def collector_answers(host: str = "localhost", port: int = 4318) -> bool:
    """True when something accepts connections where the agent would export by default."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def default_telemetry_dir() -> Path:
    """Where the agent writes by default when run from the repository (so a plain `obs view` finds it)."""
    from obs.agent.settings import load_settings

    return load_settings(environ={}, cwd=ROOT).telemetry_path()


def app_environment(telemetry: Path, upstream_url: str, service: str) -> dict[str, str]:
    """The caller's environment minus telemetry settings, plus the demo's own."""
    dropped = sorted(key for key in os.environ if key.startswith(("OTEL_", "OBS_")))
    if dropped:
        say(f"ignoring {', '.join(dropped)} from your shell so the demo behaves the same everywhere")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "OBS_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
        "OTEL_SERVICE_NAME": service,
        "OBS_TELEMETRY_DIR": str(telemetry),
        "OTEL_METRIC_EXPORT_INTERVAL": "2000",
        DB_ENV: str(telemetry.parent / "demo-shop.sqlite3"),
        UPSTREAM_ENV: upstream_url,
    })
    if collector_answers():
        say("something answers on localhost:4318; setting OTEL_{TRACES,METRICS,LOGS}_EXPORTER=file so the "
            "telemetry still goes to local files for `obs view`")
        env.update({f"OTEL_{name.upper()}_EXPORTER": "file" for name in SIGNALS})
    return env


def stop(process: subprocess.Popen[bytes], timeout_s: float) -> float:
    """SIGTERM, as a supervisor or Ctrl-C would; the whole group is killed if it outlives ``timeout_s``."""
    started = time.perf_counter()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            say(f"the app did not stop within {timeout_s:.0f} s; killing it")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return time.perf_counter() - started


def agent_lines(log: Path) -> list[str]:
    """What obs itself printed in the app's output (one line about the file fallback, if all goes well)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if line.lower().startswith("obs")]


def run(app_name: str, requests: int, telemetry: Path, workers: int, view: list[str]) -> int:
    app = APPS[app_name]
    telemetry.mkdir(parents=True, exist_ok=True)
    for name in SIGNALS:
        (telemetry / f"{name}.jsonl").unlink(missing_ok=True)
    log = telemetry.parent / f"demo-{app_name}.log"
    say(f"telemetry goes to {telemetry} (emptied first); the app's own output to {log}")
    with Upstream() as upstream:
        env = app_environment(telemetry, upstream.url, f"{app_name}-example")
        port = free_port()
        command = [str(BIN / "obs"), "run", "--", *app.command(port, workers)]
        say("$ " + " ".join(Path(part).name if part.startswith(str(BIN)) else part for part in command))
        with log.open("wb") as sink:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/get", process, timeout_s=60)
            say(f"sending {requests} requests to http://127.0.0.1:{port} (some fail on purpose)")
            say(traffic.describe(traffic.send(f"http://127.0.0.1:{port}", requests, concurrency=2)))
        except RuntimeError as error:
            say(f"{error}; the app's last lines:")
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
            stop(process, 5)
            return 1
        finally:
            waited = stop(process, 20)
    say(f"app stopped {waited:.1f} s after SIGTERM (exit status {process.returncode})")
    for line in agent_lines(log):
        say(f"the agent said: {line}")
    say(f"$ {' '.join(view)}\n")
    shown = subprocess.run([str(BIN / "obs"), *view[1:]], cwd=ROOT, env=env, timeout=120)
    if shown.returncode == 0:
        print()
        say(f"see it again with `{' '.join(view)}` (options: --since 5m, --limit N, --service NAME); "
            "the apps and their routes: examples/README.md")
    return shown.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python examples/demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", choices=sorted(APPS), default="flask")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, help="telemetry folder (default: the repository's)")
    args = parser.parse_args(argv)
    default = default_telemetry_dir().resolve()
    telemetry = args.dir.resolve() if args.dir else default
    view = ["obs", "view"] if telemetry == default else ["obs", "view", "--dir", str(telemetry)]
    try:
        return run(args.app, args.requests, telemetry, args.workers, view)
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
