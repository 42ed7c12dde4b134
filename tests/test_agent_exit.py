"""Short processes export everything at exit, on every supported Python.

Scripts, management commands, cron jobs: they end before any export interval, so everything they recorded
goes out at exit. Python 3.12 refuses to start a thread once the interpreter is shutting down (its atexit
handlers included), so nothing the agent does at exit may need a thread it has not started yet. `make test`
runs this file on every supported interpreter (scripts/pythons.py).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from obs.agent._lifecycle import EXIT_BUDGET_S

from tests.agent_run import OBS, PYTHON, clean_environment, exporting_to, obs_run, python
from tests.otlp_receiver import OTLPReceiver

HANG_GUARD_S = 20.0
"""A process that has not exited by then hangs (the exit budget itself is checked in test_run_cli.py)."""

SCRIPT = "import logging\nlogging.getLogger('cron').warning('disk almost full')\n"
"""The issue's script: it logs one warning and ends."""

SLOW = {"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_BLRP_SCHEDULE_DELAY": "60000",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000"}
"""No export before the exit: what reaches the receiver was sent at exit."""


def _script(project: Path, code: str = SCRIPT) -> Path:
    path = project / "script.py"
    path.write_text(code)
    return path


def test_a_script_that_logs_one_warning_exports_it_at_exit(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """`obs run -- python script.py`: the warning and the process metrics reach the collector, the app's
    console is unchanged, and obs says nothing."""
    ran = obs_run([PYTHON, str(_script(tmp_path))], exporting_to(receiver, **SLOW), tmp_path,
                  timeout=HANG_GUARD_S)
    assert ran.returncode == 0, ran.stderr
    assert ran.obs_lines() == [], f"Python {sys.version_info[:2]}"
    assert ran.stderr.strip() == "disk almost full"
    assert [record.body for record in receiver.logs()] == ["disk almost full"]
    assert receiver.metric_points("process.memory.usage")


def test_with_no_collector_the_script_writes_its_telemetry_files(tmp_path: Path) -> None:
    """No endpoint configured and no collector: the warning lands in .obs/telemetry/logs.jsonl and the process
    metrics in metrics.jsonl, with the one line saying where they went."""
    ran = obs_run([PYTHON, str(_script(tmp_path))], clean_environment(SLOW), tmp_path, timeout=HANG_GUARD_S)
    assert ran.returncode == 0, ran.stderr
    (line,) = ran.obs_lines()
    assert ".obs/telemetry" in line
    logs = (tmp_path / ".obs" / "telemetry" / "logs.jsonl").read_text().splitlines()
    bodies = [record["body"]["stringValue"] for line in logs for resource in json.loads(line)["resourceLogs"]
              for scope in resource["scopeLogs"] for record in scope["logRecords"]]
    assert bodies == ["disk almost full"]
    assert (tmp_path / ".obs" / "telemetry" / "metrics.jsonl").stat().st_size > 0


def test_obs_init_in_a_script_exports_its_span_and_log_at_exit(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """`import obs; obs.init()` in a script that makes one span and one log line and ends: both are exported
    at exit, and obs says nothing."""
    code = (
        "import logging, obs\nobs.init(service_name='nightly')\nfrom opentelemetry import trace\n"
        "with trace.get_tracer('job').start_as_current_span('rebuild-index'):\n"
        "    logging.getLogger('job').warning('index rebuilt')\n"
    )
    ran = python(code, exporting_to(receiver, **SLOW), tmp_path, under_obs=False, timeout=HANG_GUARD_S)
    assert ran.returncode == 0, ran.stderr
    assert ran.obs_lines() == []
    assert [span.name for span in receiver.spans()] == ["rebuild-index"]
    (record,) = receiver.logs()
    assert record.body == "index rebuilt"
    assert record.trace_id == receiver.spans()[0].trace_id


def test_a_span_ended_in_the_apps_own_atexit_handler_is_exported(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """The process's first span ends in an atexit handler of the app (which runs before the agent's): the
    app sees no error, and the span goes out with the agent's exit."""
    code = (
        "import atexit, obs\nobs.init()\nfrom opentelemetry import trace\n"
        "def goodbye():\n"
        "    trace.get_tracer('job').start_span('goodbye').end()\n"
        "    print('goodbye done')\n"
        "atexit.register(goodbye)\n"
    )
    ran = python(code, exporting_to(receiver, **SLOW), tmp_path, under_obs=False, timeout=HANG_GUARD_S)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "goodbye done"
    assert "Traceback" not in ran.stderr
    assert ran.obs_lines() == []
    assert [span.name for span in receiver.spans()] == ["goodbye"]


def test_spans_the_exit_could_not_export_are_counted(tmp_path: Path) -> None:
    """A way out slower than the exit allows (here a named pipe nobody reads, where the file's write waits
    for ever) does not hold the app's exit, and the spans it could not take are not lost silently: one
    line counts them."""
    folder = tmp_path / "telemetry"
    folder.mkdir()
    os.mkfifo(folder / "traces.jsonl")
    env = clean_environment({
        "OTEL_TRACES_EXPORTER": "file", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
        "OBS_TELEMETRY_DIR": str(folder), "OTEL_TRACES_SAMPLER": "always_on", **SLOW,
    })
    code = ("from opentelemetry import trace\n"
            "for _ in range(3):\n    trace.get_tracer('job').start_span('step').end()\n")
    ran = python(code, env, tmp_path, timeout=HANG_GUARD_S)
    assert ran.returncode == 0, ran.stderr
    (line,) = ran.obs_lines()
    assert "not exported: 3 spans (3 still queued at exit)" in line, line


def test_a_local_file_slower_than_a_third_of_the_budget_still_gets_every_span(tmp_path: Path) -> None:
    """The first export of a short process happens at exit and may take more than a fixed third of the exit
    budget (under CPU load: the fallback probe, the encoders' imports). Here the spans' file is a named pipe
    whose reader only comes well past a third of the budget, while the exit is under way: the spans' share
    is on demand (the other signals leave it their unused time) and a local file may finish what it holds,
    so every span is written and nothing is said lost."""
    folder = tmp_path / "telemetry"
    folder.mkdir()
    pipe = folder / "traces.jsonl"
    os.mkfifo(pipe)
    env = clean_environment({
        "OTEL_TRACES_EXPORTER": "file", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
        "OBS_TELEMETRY_DIR": str(folder), "OTEL_TRACES_SAMPLER": "always_on", **SLOW,
    })
    code = ("from opentelemetry import trace\n"
            "for _ in range(3):\n    trace.get_tracer('job').start_span('step').end()\n"
            "print('exiting', flush=True)\n")
    with subprocess.Popen([OBS, "run", "--", PYTHON, "-c", code], env=env, cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as app:
        assert app.stdout is not None
        assert app.stdout.readline() == "exiting\n"
        time.sleep(EXIT_BUDGET_S / 2)  # the exit is under way: past a third of its budget, within it
        written = _read_pipe(pipe, HANG_GUARD_S)
        _, stderr = app.communicate(timeout=HANG_GUARD_S)
    assert app.returncode == 0, stderr
    spans = [span["name"] for line in written.splitlines() for resource in json.loads(line)["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    assert spans == ["step"] * 3, stderr
    assert [line for line in stderr.splitlines() if line.startswith("obs:")] == []


def _read_pipe(path: Path, guard_s: float) -> bytes:
    """All a named pipe's writer writes until it closes it; nothing if no writer comes within the exit
    budget and a second (the reader opens without waiting: a writer that already gave up leaves it empty)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks: list[bytes] = []
    no_writer_by, give_up = time.monotonic() + EXIT_BUDGET_S + 1.0, time.monotonic() + guard_s
    try:
        while time.monotonic() < give_up:
            select.select([descriptor], [], [], 0.05)
            chunk = os.read(descriptor, 65536)
            if chunk:
                chunks.append(chunk)
            elif chunks or time.monotonic() > no_writer_by:
                break  # the writer closed the pipe, or none came
            else:
                time.sleep(0.05)  # no writer yet: the pipe reads as ended until one opens it
    finally:
        os.close(descriptor)
    return b"".join(chunks)


def test_a_collection_that_never_ends_does_not_hold_the_exit(tmp_path: Path) -> None:
    """An observable instrument whose callback never returns holds the metrics thread's collection for
    ever: the exit does not wait for it (the last collection is skipped once the exit's time is spent),
    and the app ends with its own exit code."""
    code = (
        "import sys, threading\nfrom opentelemetry import metrics\n"
        "entered, never = threading.Event(), threading.Event()\n"
        "def reading(options):\n    entered.set()\n    never.wait()\n    return []\n"
        "metrics.get_meter('app').create_observable_gauge('app.stuck', callbacks=[reading])\n"
        "assert entered.wait(30), 'the periodic collection never ran'\n"
        "sys.exit(4)\n"
    )
    ran = python(code, clean_environment({"OTEL_METRICS_EXPORTER": "console", "OTEL_TRACES_EXPORTER": "none",
                                          "OTEL_LOGS_EXPORTER": "none"}), tmp_path, timeout=HANG_GUARD_S)
    assert ran.returncode == 4, ran.stderr
