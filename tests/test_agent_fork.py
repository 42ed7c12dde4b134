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
