"""One exit budget for a whole pre-fork server: with a collector that accepts connections and never answers,
SIGTERM ends ``gunicorn -w 2`` and ``uvicorn --workers 2`` within one budget of the plain server's exit, not
one budget per process (obs.agent._support.exit_deadline)."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest
from obs.agent._lifecycle import EXIT_BUDGET_S
from obs.agent._support.exit_deadline import FLOOR_S, exit_budget

from examples.launch import APPS, free_port, wait_until_answers
from tests.agent_run import OBS, ROOT, clean_environment, stop_process_group
from tests.otlp_receiver import MuteCollector

pytestmark = pytest.mark.serial  # times exits against a bound: alone, not beside another test's load

WORKERS = 2
SLACK_S = 0.5
"""Above the budget, for a loaded 2-core machine: the bound guards against one budget per process (2-3 s)."""


def _exit_seconds(command: list[str], env: Mapping[str, str], port: int) -> tuple[float, str]:
    """Start the server, send it a few requests, SIGTERM it; seconds from the signal to its exit."""
    process = subprocess.Popen(command, cwd=ROOT, env=dict(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/get", process)
        for _ in range(10):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/get", timeout=10) as answer:
                answer.read()
        time.sleep(0.5)  # the workers' first exports are on their way (and hang)
        started = time.monotonic()
        output = stop_process_group(process, timeout=30, leader_only=True)
        return time.monotonic() - started, output
    finally:
        if process.poll() is None:  # a request failed: stop what is left
            stop_process_group(process, timeout=10, check=False)


@pytest.mark.parametrize("app", ["flask", "fastapi"], ids=["gunicorn-w2", "uvicorn-workers2"])
def test_a_pre_fork_server_spends_one_exit_budget_with_a_mute_collector(app: str, tmp_path: Path) -> None:
    """SIGTERM to the server with 2 workers, exporting to a collector that never answers: it exits within
    the exit budget (plus slack) of the same server without obs, although every process had exports
    hanging."""
    example = APPS[app]
    base = {"EXAMPLES_DB": str(tmp_path / "shop.sqlite3"), "PYTHONPATH": str(ROOT)}
    port = free_port()
    plain, _ = _exit_seconds(example.command(port, WORKERS), clean_environment(base), port)
    with MuteCollector() as mute:
        env = clean_environment({**base, "OTEL_EXPORTER_OTLP_ENDPOINT": mute.endpoint,
                                 "OTEL_TRACES_SAMPLER": "always_on"})
        port = free_port()
        observed, output = _exit_seconds([OBS, "run", "--", *example.command(port, WORKERS)], env, port)
    assert "Traceback" not in output, output[-3000:]
    print(f"{app}: plain {plain:.2f} s, obs with a mute collector {observed:.2f} s")
    assert observed < plain + EXIT_BUDGET_S + SLACK_S, (plain, observed, output[-3000:])


def test_processes_of_one_run_share_the_deadline(tmp_path: Path) -> None:
    """The first process of a run to exit gets the whole budget and sets the deadline; a process exiting
    within it gets what is left; one exiting after it gets the floor; a deadline more than one budget old is
    an earlier exit's, and the next process gets a whole budget again. Without a run id: the whole budget."""
    run_id = f"test-{time.monotonic_ns()}"
    assert exit_budget(1.0, None) == 1.0
    assert exit_budget(1.0, run_id) == 1.0
    left = exit_budget(1.0, run_id)
    assert FLOOR_S <= left < 1.0
    time.sleep(1.0)
    assert exit_budget(1.0, run_id) == FLOOR_S
    time.sleep(1.2)
    assert exit_budget(1.0, run_id) == 1.0
