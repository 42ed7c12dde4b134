"""`obs.init()`, `obs.shutdown()` and the agent's start and exit, each in a child process exporting to the
test receiver.
"""

from __future__ import annotations

from pathlib import Path

from tests.agent_run import clean_environment, exporting_to, python
from tests.otlp_receiver import OTLPReceiver


def test_init_is_idempotent(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """A second obs.init() does nothing (same providers), and both return True."""
    code = (
        "import obs\nfrom opentelemetry import trace\n"
        "first = obs.init(service_name='billing')\nprovider = trace.get_tracer_provider()\n"
        "second = obs.init(service_name='other')\n"
        "print(first, second, trace.get_tracer_provider() is provider)\n"
        "trace.get_tracer('t').start_span('once').end()\n"
    )
    ran = python(code, exporting_to(receiver), tmp_path, under_obs=False)
    assert ran.stdout.split() == ["True", "True", "True"], ran.stderr
    (span,) = receiver.spans()
    assert span.resource["service.name"] == "billing"


def test_the_heap_at_start_is_frozen_and_later_garbage_is_still_collected(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """Once the agent runs, what was alive at its start is out of the collector's reach (so full collections
    do not scan the SDK again and again), while cycles the app makes afterwards are still collected. (Python
    3.12 starts with a few hundred objects frozen already: what counts is what the start adds.)"""
    code = (
        "import gc, weakref, obs\nbefore = gc.get_freeze_count()\nobs.init()\n"
        "frozen = gc.get_freeze_count()\n"
        "class Node: pass\nnode = Node(); node.me = node; alive = weakref.ref(node); del node\n"
        "gc.collect()\nprint(before < 1_000, frozen - before > 10_000, alive() is None)\n"
    )
    ran = python(code, exporting_to(receiver), tmp_path, under_obs=False)
    assert ran.stdout.split() == ["True", "True", "True"], ran.stderr


def test_shutdown_flushes_and_the_agent_stays_off(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """obs.shutdown() exports what was recorded (the process then ends without atexit handlers), and
    obs.init() afterwards returns False."""
    code = (
        "import os, obs\nfrom opentelemetry import trace\nobs.init()\n"
        "trace.get_tracer('t').start_span('before-shutdown').end()\n"
        "obs.shutdown()\nprint(obs.init())\nos._exit(0)\n"
    )
    ran = python(code, exporting_to(receiver, OTEL_BSP_SCHEDULE_DELAY="60000"), tmp_path, under_obs=False)
    assert ran.stdout.strip() == "False"
    assert [span.name for span in receiver.spans()] == ["before-shutdown"]
    assert receiver.metric_points("process.memory.usage")


def test_exit_flushes_what_is_queued(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """Spans and logs made just before the app ends are exported at exit, even with long export delays."""
    code = (
        "import logging\nfrom opentelemetry import trace\n"
        "with trace.get_tracer('t').start_as_current_span('last'):\n"
        "    logging.getLogger('a').error('last words')\n"
    )
    env = exporting_to(receiver, OTEL_BSP_SCHEDULE_DELAY="60000", OTEL_BLRP_SCHEDULE_DELAY="60000",
               OTEL_METRIC_EXPORT_INTERVAL="60000")
    assert python(code, env, tmp_path).returncode == 0
    assert [span.name for span in receiver.spans()] == ["last"]
    assert [record.body for record in receiver.logs()] == ["last words"]
    assert receiver.metric_points("process.memory.usage")


def test_bad_argument_to_init(tmp_path: Path) -> None:
    """An unknown or ill-typed argument to obs.init(): False and one line naming it; the app goes on."""
    code = "import obs\nprint(obs.init(metric_export_interval='soon'))\nprint('still here')"
    ran = python(code, clean_environment(), tmp_path, under_obs=False)
    assert ran.stdout.split() == ["False", "still", "here"]
    (line,) = ran.obs_lines()
    assert "metric_export_interval" in line and "obs.init() argument" in line


def test_init_when_disabled(tmp_path: Path) -> None:
    """OTEL_SDK_DISABLED=true: obs.init() returns False and loads nothing."""
    code = "import obs, sys\nprint(obs.init(), 'opentelemetry.sdk.trace' in sys.modules)"
    ran = python(code, clean_environment({"OTEL_SDK_DISABLED": "true"}), tmp_path, under_obs=False)
    assert ran.stdout.split() == ["False", "False"]


def test_boot_inside_a_half_done_import(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """asyncio imports concurrent.futures, which imports logging, which boots the agent while
    concurrent.futures is still executing: the boot moves to its own thread, and an instrumented library
    imported right after waits for it, so it is instrumented; the log record made then is exported."""
    code = (
        "import asyncio, sqlite3, logging\n"
        "print(type(sqlite3.connect).__name__)\n"
        "logging.getLogger('after').warning('after asyncio')\n"
    )
    ran = python(code, exporting_to(receiver), tmp_path)
    assert ran.stdout.strip() == "FunctionWrapper", ran.stderr
    assert [record.body for record in receiver.logs()] == ["after asyncio"]
    assert ran.obs_lines() == []


def test_importing_the_api_gives_the_sdk_providers(tmp_path: Path) -> None:
    """Under obs run, `from opentelemetry import trace` (which boots the agent while the API module is still
    executing) returns with the SDK's providers in place, sampler and all (the meter provider is the SDK's
    from the first measurement on: tests/test_agent_meters.py)."""
    code = (
        "from opentelemetry import trace, metrics\n"
        "metrics.get_meter('app').create_counter('started').add(1)\n"
        "print(type(trace.get_tracer_provider()).__name__, type(metrics.get_meter_provider()).__name__)\n"
        "print(trace.get_tracer_provider().sampler.get_description().split('{')[0])\n"
    )
    ran = python(code, clean_environment({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
                                          "OTEL_LOGS_EXPORTER": "none"}), tmp_path)
    assert ran.stdout.split() == ["TracerProvider", "MeterProvider", "AlwaysOffSampler"], ran.stderr
