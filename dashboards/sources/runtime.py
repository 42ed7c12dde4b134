"""Runtime: CPU, memory, threads, open file descriptors and garbage collection, per instance (per worker).

This file is yours to edit: `obs dashboards build` turns it into ../runtime.json. Every query is derived
from obs's telemetry catalog (obs.agent.catalog), so the metric and label names match what the agent sends.
"""

from __future__ import annotations

from grafanalib.core import Dashboard, Panel
from obs.agent.catalog import (
    GC_COLLECTIONS,
    LOGS_DROPPED,
    METRICS_DROPPED,
    PROCESS_CONTEXT_SWITCHES,
    PROCESS_CPU_TIME,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_OPEN_FDS,
    PROCESS_THREADS,
    SPANS_DROPPED,
)
from obs.agent.settings import Settings
from obs.dashboards import kit
from obs.dashboards.panels import prometheus, timeseries
from obs.dashboards.promql import INSTANCE, Metric, legend

GENERATION = "cpython.gc.generation"


def per_instance(title: str, query: str, unit: str, description: str = "") -> Panel:
    """One series per instance (worker) of the service."""
    return timeseries(title, prometheus(query, legend(INSTANCE)), unit=unit, description=description)


def dashboard(settings: Settings) -> Dashboard:
    by_instance = [INSTANCE]
    cpu = kit.Row("CPU", [
        per_instance("CPU by instance", Metric(PROCESS_CPU_TIME).rate(by=by_instance), "short",
                     "CPU seconds per second: 1 is one core busy."),
        timeseries("CPU by mode",
                   prometheus(Metric(PROCESS_CPU_TIME).rate(by=["cpu.mode"]), legend("cpu.mode")),
                   unit="short", stack=True),
    ])
    memory = kit.Row("Memory", [
        per_instance("Resident memory", Metric(PROCESS_MEMORY_USAGE).value(by=by_instance), "bytes"),
        per_instance("Virtual memory", Metric(PROCESS_MEMORY_VIRTUAL).value(by=by_instance), "bytes"),
    ])
    resources = kit.Row("Threads and files", [
        per_instance("Threads", Metric(PROCESS_THREADS).value(by=by_instance), "short"),
        per_instance("Open file descriptors", Metric(PROCESS_OPEN_FDS).value(by=by_instance), "short"),
    ])
    python = kit.Row("Interpreter", [
        timeseries("Garbage collections by generation",
                   prometheus(Metric(GC_COLLECTIONS).rate(by=[INSTANCE, GENERATION]),
                              legend(INSTANCE, GENERATION)),
                   unit="ops"),
        per_instance("Context switches", Metric(PROCESS_CONTEXT_SWITCHES).rate(by=by_instance), "ops"),
    ])
    agent = kit.Row("obs itself", [
        timeseries("Telemetry dropped by obs",
                   prometheus(Metric(LOGS_DROPPED).rate_or_zero(), "log records"),
                   prometheus(Metric(SPANS_DROPPED).rate_or_zero(), "spans"),
                   prometheus(Metric(METRICS_DROPPED).rate_or_zero(), "metric points"),
                   unit="ops", width=24, height=6,
                   description="Log records, spans and metric points obs did not export, per second "
                               "(queue full, endpoint refused or not answering, export failed, still queued "
                               "at exit; by reason in obs_*_dropped_total): 0 is normal."),
    ])
    return kit.dashboard(
        "runtime", "Runtime", settings, [cpu, memory, resources, python, agent],
        description="The service's processes: one series per instance, i.e. per worker.",
    )
