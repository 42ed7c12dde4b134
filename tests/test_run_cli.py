"""`obs run` from the user's side: the app's output and exit code stay the app's, obs says at most one line.

Each test runs a small script under `obs run` in a scratch project (a pyproject.toml in ``tmp_path``), with
no collector on the machine unless the test starts a receiver, and compares with the same script run plain.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from obs.agent._lifecycle import EXIT_BUDGET_S

from tests.agent_run import OBS, PYTHON, clean_environment, obs_run, python

APP = """
import logging, sys, time
print("hello from the app")
logging.getLogger("app").warning("a warning")
sys.stderr.write("app stderr line\\n")
time.sleep(0.4)
print(f"END {time.time()}", flush=True)
sys.exit(3)
"""
TEARDOWN_MARGIN_S = 0.5
"""Interpreter teardown and a loaded CI machine, on top of the agent's own exit budget."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1.2.3"\n')
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _exit_delay(stdout: str, exited_at: float) -> float:
    end = next(line for line in stdout.splitlines() if line.startswith("END "))
    return exited_at - float(end.split()[1])


def _without_end(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if not line.startswith("END ")]


@pytest.mark.serial  # times the exit against a bound: alone, not beside another test's load
def test_no_collector_output_unchanged_but_one_line_and_quick_exit(project: Path) -> None:
    """With no endpoint configured and no collector, the app prints exactly what it prints without obs, plus
    one obs line saying where the telemetry went; the files are there; the exit code is the app's; the
    process ends within the exit budget after the app's last line."""
    plain = python((project / "app.py").read_text(), clean_environment(), project, under_obs=False)
    ran = obs_run([PYTHON, "app.py"], clean_environment(), project)
    exited_at = time.time()
    assert ran.returncode == plain.returncode == 3
    assert _without_end(ran.stdout) == _without_end(plain.stdout)
    app_stderr = [line for line in ran.stderr.splitlines() if not line.startswith("obs:")]
    assert app_stderr == plain.stderr.splitlines()
    (line,) = ran.obs_lines()
    assert "no OpenTelemetry collector answers at http://localhost:4318" in line
    assert ".obs/telemetry" in line
    assert (project / ".obs" / "telemetry" / "metrics.jsonl").is_file()
    assert (project / ".obs" / "telemetry" / "logs.jsonl").is_file()
    assert _exit_delay(ran.stdout, exited_at) < EXIT_BUDGET_S + TEARDOWN_MARGIN_S


def test_endpoint_down_one_line_no_spam(project: Path) -> None:
    """An endpoint that refuses connections: one line on stderr for the whole run, however many exports
    fail, then one at exit with the numbers not exported; the app's exit code and output are unchanged."""
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"})
    ran = obs_run([PYTHON, "app.py"], env, project)
    assert ran.returncode == 3
    assert "hello from the app" in ran.stdout
    line, counted = ran.obs_lines()
    assert "cannot send telemetry" in line and "connection refused" in line
    assert counted.startswith("obs: not exported: ") and "endpoint not answering" in counted


def test_endpoint_down_metrics_and_spans_only_one_line(project: Path) -> None:
    """The same with logs off: many failed exports of spans and metrics (every 300 ms) give one line, and
    the exit line counts the spans."""
    env = clean_environment({
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "OTEL_LOGS_EXPORTER": "none",
    })
    code = "import logging, time\nfrom opentelemetry import trace\n" \
           "for i in range(10):\n    trace.get_tracer('t').start_span('work').end(); time.sleep(0.1)\n"
    ran = python(code, env, project)
    assert ran.returncode == 0, ran.stderr
    line, counted = ran.obs_lines()
    assert "cannot send telemetry" in line
    assert counted.startswith("obs: not exported: 10 spans (10 endpoint not answering)")


@pytest.mark.serial  # times the exit against a bound: alone, not beside another test's load
def test_silent_endpoint_does_not_delay_exit(project: Path, silent_port: int) -> None:
    """An endpoint that accepts connections but never answers: the app still ends within the exit budget
    (no retry backoff at shutdown), with one line saying the endpoint timed out."""
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent_port}"})
    ran = obs_run([PYTHON, "app.py"], env, project)
    exited_at = time.time()
    assert ran.returncode == 3
    assert _exit_delay(ran.stdout, exited_at) < EXIT_BUDGET_S + TEARDOWN_MARGIN_S
    assert len(ran.obs_lines()) <= 2, ran.stderr


def test_bad_setting_in_pyproject_one_line_app_runs_uninstrumented(project: Path) -> None:
    """A wrong type in [tool.obs]: one line naming the setting and the file (said by the agent as it boots
    in the app), the app runs (without the agent: no telemetry files) and `obs run` returns its exit code."""
    (project / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.obs]\ncapture_logging = "maybe"\n'
    )
    ran = obs_run([PYTHON, "app.py"], clean_environment(), project)
    assert ran.returncode == 3
    assert "hello from the app" in ran.stdout
    (line,) = ran.obs_lines()
    assert "capture_logging" in line and str(project / "pyproject.toml") in line
    assert "the app runs without it" in line
    assert not (project / ".obs").exists()


def test_unknown_exporter_one_line_naming_the_variable(project: Path) -> None:
    """An unknown exporter in OTEL_TRACES_EXPORTER: one line naming the variable; the app runs."""
    ran = obs_run([PYTHON, "app.py"], clean_environment({"OTEL_TRACES_EXPORTER": "zipkin"}), project)
    assert ran.returncode == 3
    (line,) = ran.obs_lines()
    assert "OTEL_TRACES_EXPORTER" in line and "zipkin" in line


def test_bad_setting_found_in_the_app_process_is_said_once_for_all_workers(project: Path) -> None:
    """When the settings go bad only inside the app (here: the app changes its own environment before
    anything boots the agent), the app's process says it, once, even with a forked child."""
    code = (
        "import os, sys\n"
        "os.environ['OTEL_BSP_MAX_QUEUE_SIZE'] = 'many'\n"
        "pid = os.fork()\n"
        "import logging\n"
        "logging.getLogger('x').info('hi')\n"
        "if pid: os.waitpid(pid, 0)\n"
    )
    ran = python(code, clean_environment(), project)
    assert ran.returncode == 0
    (line,) = ran.obs_lines()
    assert "OTEL_BSP_MAX_QUEUE_SIZE" in line and "many" in line


def test_exit_code_and_signals_are_the_apps(project: Path) -> None:
    """`obs run` replaces itself with the command: the exit code is the command's, a signal's too."""
    assert python("import sys; sys.exit(42)", clean_environment(), project).returncode == 42
    killed = python("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", clean_environment(), project)
    assert killed.returncode == -15


def test_command_not_found_is_127(project: Path) -> None:
    """A command that does not exist: one line, exit 127 as a shell would."""
    ran = obs_run(["no-such-command-obs-test"], clean_environment(), project)
    assert ran.returncode == 127
    assert ran.obs_lines() == ["obs: command not found: no-such-command-obs-test"]


def test_nothing_to_run_is_a_usage_error(project: Path) -> None:
    """`obs run` without a command: a usage error naming an example, exit 2."""
    from tests.agent_run import _run

    ran = _run([OBS, "run"], clean_environment(), project, 30)
    assert ran.returncode == 2
    assert "nothing to run" in ran.stderr


def test_users_sitecustomize_still_runs(project: Path) -> None:
    """A sitecustomize the user already has (found through PYTHONPATH) runs under `obs run` too, and the
    agent starts as well."""
    site = project / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE'] = 'ran'\n")
    code = ("import os, logging, sys\n"
            "print(os.environ.get('USER_SITECUSTOMIZE'), 'opentelemetry.sdk.trace' in sys.modules)")
    ran = python(code, clean_environment({"PYTHONPATH": str(site)}), project)
    assert ran.stdout.split() == ["ran", "True"], ran.stderr


def test_disabled_sdk_runs_the_app_untouched(project: Path) -> None:
    """OTEL_SDK_DISABLED=true: no SDK loaded, no line, no files."""
    code = "import logging, sys\nlogging.warning('w')\nprint('opentelemetry.sdk.trace' in sys.modules)"
    ran = python(code, clean_environment({"OTEL_SDK_DISABLED": "true"}), project)
    assert ran.stdout.strip() == "False"
    assert ran.obs_lines() == []
    assert not (project / ".obs").exists()


def test_nothing_loads_until_the_app_imports_something_to_observe(project: Path) -> None:
    """A process that imports nothing worth observing never loads the SDK (start-up stays cheap), and an
    instrumented library is not imported on the app's behalf."""
    code = "import sys\nprint('opentelemetry.sdk.trace' in sys.modules, 'flask' in sys.modules)"
    assert python(code, clean_environment(), project).stdout.split() == ["False", "False"]
    code = ("import sqlite3, sys\n"
            "print('opentelemetry.sdk.trace' in sys.modules, type(sqlite3.connect).__name__)")
    assert python(code, clean_environment(), project).stdout.split() == ["True", "FunctionWrapper"]


STARTUP_HEAVY = ("typing", "re", "tempfile", "shutil", "dataclasses", "inspect", "importlib.util",
                 "importlib.metadata", "pathlib", "contextlib", "json", "opentelemetry", "google", "psutil",
                 "packaging", "wrapt")
"""Modules a process that imports nothing worth observing must not pay for under `obs run` (typing and re
alone are several ms at every start)."""


def _heavy(names: set[str]) -> list[str]:
    return sorted(name for name in names
                  if any(name == heavy or name.startswith(f"{heavy}.") for heavy in STARTUP_HEAVY))


def _imported(ran_stderr: str) -> set[str]:
    """The modules ``-X importtime`` listed: every import of the process, its exit's included."""
    lines = ran_stderr.splitlines()
    return {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}


def test_the_armed_agent_loads_little_into_the_app(project: Path) -> None:
    """Armed but not booted (the app imported nothing worth observing), the agent loads its watcher and, up to
    the end of its exit, nothing of :data:`STARTUP_HEAVY` that the same script run plain does not load."""
    command = [PYTHON, "-X", "importtime", "-c", "pass"]
    plain = _imported(subprocess.run(command, env=clean_environment(), cwd=project, capture_output=True,
                                     text=True, timeout=60, check=True).stderr)
    ran = obs_run(command, clean_environment(), project)
    armed = _imported(ran.stderr)
    assert "obs.agent._lifecycle" in armed, ran.stderr
    # a sitecustomize of the machine's own (a distribution's Python has one) is run by the bootstrap through
    # importlib.util, which loads contextlib: the price of chaining to it, not of the agent
    chained = {"importlib.util", "contextlib"} if "sitecustomize" in plain else set()
    assert _heavy(armed - plain - chained) == []


def test_a_booted_agent_exits_without_tempfile(project: Path) -> None:
    """The exit of a process that booted the agent (the run's exit deadline, obs.agent._support.exit_deadline)
    and the arming's discovery of the instrumentations load neither tempfile nor typing of their own."""
    code = ("import sys\nbefore = set(sys.modules)\n"
            "from obs.agent._instrument import discover\n"
            "from obs.agent._support.exit_deadline import exit_budget\n"
            "discover()\nexit_budget(1.0, 'startup-test-run')\n"
            "print(sorted(name for name in set(sys.modules) - before if name in ('tempfile', 'typing')))")
    ran = python(code, clean_environment(), project, under_obs=False)
    assert ran.stdout.strip() == "[]", ran.stderr


def test_exporting_over_otlp_http_never_loads_protobuf(project: Path) -> None:
    """Spans, metrics and bridged logs are written to the wire directly: an app exporting over OTLP/HTTP does
    not pay protobuf's import (about 12 ms, at start-up or at its first export, often its exit)."""
    code = ("import logging, sys\n"
            "from opentelemetry import trace\n"
            "with trace.get_tracer('t').start_as_current_span('s'):\n"
            "    logging.getLogger('app').warning('w')\n"
            "from obs.agent._lifecycle import flush\n"
            "flush()\n"
            "print('opentelemetry.sdk.trace' in sys.modules, 'google.protobuf' in sys.modules)")
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"})
    ran = python(code, env, project)
    assert ran.stdout.split() == ["True", "False"], ran.stderr
    assert any("connection refused" in line for line in ran.obs_lines()), "it did try to export"


def test_obs_run_loads_little_before_it_execs_the_app(project: Path) -> None:
    """`obs run` sits in front of every start of the app: up to its exec it loads neither argparse, typing
    nor dataclasses (inspect), nothing of OpenTelemetry, and none of the agent's settings code (the agent
    reads and checks the settings when it boots in the app)."""
    code = ("import os, sys\n"
            "def execvpe(file, args, env):\n"
            "    heavy = ('argparse', 'dataclasses', 'inspect', 'opentelemetry', 'tomllib', 'typing')\n"
            "    print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
            "    print(sorted(name for name in sys.modules if name.startswith('obs.')))\n"
            "    print('PYTHONPATH' in env and 'OBS_RUN_PID' in env)\n"
            "    sys.exit(0)\n"
            "os.execvpe = execvpe\n"
            "from obs.cli import main\n"
            "main(['run', '--', 'true'])\n")
    ran = python(code, clean_environment(), project, under_obs=False)
    heavy, own, environment_set = ran.stdout.split("\n")[:3]
    assert heavy == "[]", ran.stderr
    assert own == str(["obs.agent", "obs.agent.bootstrap", "obs.cli", "obs.commands", "obs.commands.run",
                       "obs.errors"])
    assert environment_set == "True"


def test_the_boot_leaves_the_garbage_collector_as_it_found_it(project: Path) -> None:
    """The collector is paused while the agent boots inside the app's import, then on again; an app that
    turned it off before keeps it off."""
    code = "import gc, sys\nimport logging\nprint('opentelemetry.sdk.trace' in sys.modules, gc.isenabled())"
    assert python(code, clean_environment(), project).stdout.split() == ["True", "True"]
    code = ("import gc, sys\ngc.disable()\nimport logging\n"
            "print('opentelemetry.sdk.trace' in sys.modules, gc.isenabled())")
    assert python(code, clean_environment(), project).stdout.split() == ["True", "False"]

