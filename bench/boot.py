"""Where the agent's start-up goes: its boot against its shutdown, and the imports the boot is made of.

``python -m bench.profile boot``. Two views, medians of fresh interpreters:

- the boot (``import logging`` under ``obs run``, which is when the agent starts) and the shutdown (the
  agent's exit handler, timed from an exit handler of the app's), exporting to the bench's dropping peer;
- the imports the boot is made of, one group after the other in a plain interpreter: what OpenTelemetry's
  SDK costs by itself (the floor of any agent built on it), and what obs's own modules add.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from bench.apps import BIN, ROOT, Mode, environment
from bench.peer import Peer

BOOT_AND_SHUTDOWN = """
import atexit, json, sys, time
started = time.perf_counter()
import logging
booted = time.perf_counter()

def timed_shutdown():
    from obs.agent._lifecycle import phase, stop
    running = phase()
    before = time.perf_counter()
    stop()
    sys.stdout.write(json.dumps([running, booted - started, time.perf_counter() - before]))

atexit.register(timed_shutdown)
"""

IMPORT_GROUPS = (
    ("logging", "import logging"),
    ("OpenTelemetry API, SDK resources and logs", "import opentelemetry.trace, opentelemetry.sdk._logs"),
    ("+ SDK traces", "import opentelemetry.sdk.trace"),
    ("+ obs's own modules: the boot", "import obs.agent._lifecycle, obs.agent._pipeline"),
    ("+ SDK metrics, built at first need (obs.agent._metrics.lazy_sdk)",
     "import obs.agent._metrics.sdk, obs.agent._metrics.red_data"),
)
"""Each group imports what the ones before it left out: the first four are the boot, the SDK's floor then
what obs adds on top; the last is what a process pays when it first needs the metrics SDK."""

_DEFAULTS = Mode("defaults", "obs's defaults")
"""No mode of its own: the bench's environment (no OTEL_*/OBS_* of the caller's), so each round measures
obs's defaults."""

IMPORTS_TIMED = """
import json, time
spent = []
for code in {codes!r}:
    started = time.perf_counter()
    exec(code)
    spent.append(time.perf_counter() - started)
print(json.dumps(spent))
"""


def boot_and_shutdown(rounds: int) -> tuple[float, float]:
    """Median milliseconds of the boot and of the shutdown, under ``obs run`` exporting to a peer."""
    boots: list[float] = []
    shutdowns: list[float] = []
    with Peer() as peer:
        env = environment(_DEFAULTS)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = peer.endpoint
        for _ in range(rounds + 1):
            done = subprocess.run([str(BIN / "obs"), "run", "--", sys.executable, "-c", BOOT_AND_SHUTDOWN],
                                  env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
            running, boot, shutdown = json.loads(done.stdout)
            if running != "running":
                raise RuntimeError(f"the agent did not boot on `import logging` (phase {running})")
            boots.append(boot)
            shutdowns.append(shutdown)
    return statistics.median(boots[1:]) * 1000, statistics.median(shutdowns[1:]) * 1000


def import_groups(rounds: int) -> list[tuple[str, float]]:
    """Median milliseconds of each group of :data:`IMPORT_GROUPS`, in a plain interpreter each round."""
    code = IMPORTS_TIMED.format(codes=[statement for _, statement in IMPORT_GROUPS])
    env = environment(_DEFAULTS)
    spent: list[list[float]] = []
    for _ in range(rounds + 1):
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=True)
        spent.append(json.loads(done.stdout))
    return [(name, statistics.median(row[index] for row in spent[1:]) * 1000)
            for index, (name, _) in enumerate(IMPORT_GROUPS)]


def report(rounds: int) -> None:
    boot, shutdown = boot_and_shutdown(rounds)
    print(f"under obs run, {rounds} rounds: boot on `import logging` {boot:.1f} ms, "
          f"shutdown {shutdown:.1f} ms")
    print("imports, plain interpreter:")
    for name, milliseconds in import_groups(rounds):
        print(f"  {milliseconds:6.1f} ms  {name}")
