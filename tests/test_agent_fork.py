"""Forked and spawned children: each process reports as itself (service.instance.id, pid, memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.agent_run import PYTHON, clean_environment, obs_run, python
from tests.otlp_receiver import OTLPReceiver


def test_forked_child_reports_its_own_identity_and_memory(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """After os.fork() under obs.init(), the child's spans and metrics carry a new service.instance.id and
    its own pid, and its memory figure is its own (it holds 64 MiB more than its parent)."""
    code = (
        "import os, time, obs\nfrom opentelemetry import trace\nobs.init()\n"
        "pid = os.fork()\n"
        "ballast = bytearray(64 * 1024 * 1024) if pid == 0 else b''\n"
        "trace.get_tracer('t').start_span('child' if pid == 0 else 'parent').end()\n"
        "time.sleep(0.8)\n"
        "if pid: os.waitpid(pid, 0)\n"
    )
    ran = python(code, clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}), tmp_path,
                 under_obs=False)
    assert ran.returncode == 0, ran.stderr
    spans = {span.name: span.resource for span in receiver.spans()}
    parent, child = spans["parent"], spans["child"]
    assert parent["service.instance.id"] != child["service.instance.id"]
    assert parent["process.pid"] != child["process.pid"]
    assert child["process.parent_pid"] == parent["process.pid"]
    memory = {point.resource["service.instance.id"]: point.value
              for point in receiver.latest_points("process.memory.usage")}
    assert memory[child["service.instance.id"]] - memory[parent["service.instance.id"]] > 48 * 1024 * 1024


def test_spawned_child_starts_its_own_agent(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """A multiprocessing child started with "spawn" is a new interpreter: under obs run it starts the agent
    itself (the bootstrap is on the inherited PYTHONPATH), with its own identity."""
    (tmp_path / "spawner.py").write_text(
        "import logging, multiprocessing, os\nfrom opentelemetry import trace\n\n"
        "def work():\n    import logging\n    trace.get_tracer('t').start_span('in-child').end()\n\n"
        "if __name__ == '__main__':\n"
        "    trace.get_tracer('t').start_span('in-parent').end()\n"
        "    process = multiprocessing.get_context('spawn').Process(target=work)\n"
        "    process.start()\n    process.join()\n"
    )
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    ran = obs_run([PYTHON, "spawner.py"], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    spans = {span.name: span.resource for span in receiver.spans()}
    assert spans["in-child"]["service.instance.id"] != spans["in-parent"]["service.instance.id"]
    assert spans["in-child"]["process.parent_pid"] == spans["in-parent"]["process.pid"]


_WAIT_FOR_CHILD = """
deadline = time.monotonic() + 30
while not os.waitpid(pid, os.WNOHANG)[0]:
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("child hung", flush=True)
        break
    time.sleep(0.05)
"""
"""The end of each forking script: the parent waits (bounded) for the child ``pid``, or says it hung."""


def test_a_fork_during_the_metrics_build_waits_for_it_and_the_child_measures(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """A fork while the agent's first-export thread builds the metrics SDK waits for that build (ahead of
    logging's own fork hook, whose lock the build's imports need) and for the collection the new reader then
    runs: the child inherits no import and no SDK lock half-way, so its first measurement is made, exported,
    and it exits. (The fork used to wait behind logging's lock until its bound and go ahead mid-import: the
    child's first measurement hung for ever on the module's import lock, as a gunicorn ``--preload``
    worker's request did; with that fixed, the child's exit hung on the SDK's collection lock.)"""
    code = """
import os, sys, time
from opentelemetry import metrics

meter = metrics.get_meter("fork-test")
deadline = time.monotonic() + 20
while "opentelemetry.sdk.metrics" not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.0005)
print("forked during the build:", "opentelemetry.sdk.metrics" in sys.modules, flush=True)
pid = os.fork()
if pid == 0:
    meter.create_counter("fork.child.measurements").add(1)
    print("child measured", os.getpid(), flush=True)
    sys.exit(0)
"""
    environment = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    ran = python(code + _WAIT_FOR_CHILD, environment, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "forked during the build: True" in ran.stdout
    assert "child hung" not in ran.stdout, ran.stdout
    child_pid = int(ran.stdout.split("child measured ", 1)[1].split()[0])
    assert receiver.wait_for(lambda: any(
        point.resource["process.pid"] == child_pid and point.value == 1
        for point in receiver.latest_points("fork.child.measurements")
    ))


_FORK_WHILE_IMPORTING = """
import os, sys, threading, time
from opentelemetry import metrics
from obs.agent._support.late_imports import late_imports

for i in range(30):
    with open(f"slow_{i}.py", "w") as module:
        module.write("import time\\ntime.sleep(0.1)\\n")
sys.path.insert(0, os.getcwd())
meter = metrics.get_meter("fork-test")
holding, release = threading.Event(), threading.Event()

def late_work():
    with late_imports():
        holding.set()
        if STUCK:
            release.wait(30)
        else:
            for i in range(30):
                __import__(f"slow_{i}")

threading.Thread(target=late_work, daemon=True).start()
holding.wait(10)
pid = os.fork()
if pid == 0:
    print("child saw", sum(f"slow_{i}" in sys.modules for i in range(30)), "modules", flush=True)
    meter.create_counter("fork.child.measurements").add(1)
    print("child measured", flush=True)
    sys.exit(0)
release.set()
"""
"""A thread of the agent holds the late-import guard while the main thread forks: it imports 30 modules that
take 0.1 s each (3 s in all, making progress), or it is stuck (``STUCK``) until after the fork."""


def test_a_fork_waits_for_a_late_import_as_long_as_it_makes_progress(tmp_path: Path) -> None:
    """A late import that keeps loading modules is waited for, even past the 2 s after which one that loads
    nothing counts as stuck: the child gets all 30 modules (a fixed 2 s bound forked in the middle)."""
    ran = python(f"STUCK = False\n{_FORK_WHILE_IMPORTING}{_WAIT_FOR_CHILD}", clean_environment(), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "child saw 30 modules" in ran.stdout, ran.stdout
    assert "child measured" in ran.stdout, ran.stdout
    assert "child hung" not in ran.stdout  # at exit: the codec import an export had begun


def test_a_fork_goes_ahead_of_a_stuck_late_import_and_the_child_makes_no_metrics(tmp_path: Path) -> None:
    """A late import stuck on a lock is not waited for past 2 s without progress (nor does the build of the
    metrics before the fork wait for it): the fork goes ahead, and the child, where a module may be left
    half-imported for good, builds no metrics SDK (said once) rather than hang its first measurement."""
    ran = python(f"STUCK = True\n{_FORK_WHILE_IMPORTING}{_WAIT_FOR_CHILD}", clean_environment(), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "child measured" in ran.stdout, ran.stdout
    assert "child hung" not in ran.stdout
    assert ("obs: building the metrics pipeline failed (RuntimeError: the process forked while another "
            "thread was importing it); the app goes on without it") in ran.stderr.splitlines()


def test_fork_hooks_run_by_stage_and_a_failing_one_is_said_once() -> None:
    """Every fork hook of the agent runs through one registry: before the fork, and after it in the parent
    and in the child, by stage first to last whatever the order of registration; a hook bound weakly to an
    object that is gone is skipped; a hook that raises is said once, and the others still run."""
    code = """
import os
from obs.agent._support import fork

seen = []
fork.at_fork(fork.STATE, before=lambda: seen.append("before state"),
             after_in_child=lambda: seen.append("child state"))
fork.at_fork(fork.BOOT, before=lambda: seen.append("before boot"),
             after_in_parent=lambda: seen.append("parent boot"),
             after_in_child=lambda: seen.append("child boot"))

def broken():
    raise RuntimeError("broken hook")

fork.at_fork(fork.VOICE, after_in_child=broken)

class Owner:
    def hook(self):
        seen.append("child weak")

owner, gone = Owner(), Owner()
fork.at_fork_weakly(fork.IMPORTS, owner, after_in_child="hook")
fork.at_fork_weakly(fork.IMPORTS, gone, after_in_child="hook")
del gone
pid = os.fork()
if pid == 0:
    print("child", seen, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", seen, flush=True)
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = dict(line.split(" ", 1) for line in ran.stdout.splitlines())
    assert lines["child"] == str(["before boot", "before state", "child boot", "child weak", "child state"])
    assert lines["parent"] == str(["before boot", "before state", "parent boot"])
    assert ran.stderr.splitlines() == [
        "obs: resetting the agent after fork failed (RuntimeError: broken hook); the app goes on without it"
    ]
