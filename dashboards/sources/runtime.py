"""Runtime: CPU, memory, threads, open file descriptors and garbage collection, per instance (per worker).

This file is yours to edit: `obs dashboards build` turns it into ../runtime.json. Every query is derived
from obs's telemetry catalog (obs.agent.catalog), so the metric and label names match what the agent sends.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.catalog import (
    GC_COLLECTIONS,
    PROCESS_CONTEXT_SWITCHES,
    PROCESS_CPU_TIME,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_OPEN_FDS,
    PROCESS_THREADS,
)
from obs.agent.settings import Settings
from obs.dashboards import kit
from obs.dashboards.panels import prometheus, timeseries
from obs.dashboards.promql import INSTANCE, Metric, legend

GENERATION = "cpython.gc.generation"


def dashboard(settings: Settings) -> Dashboard:
    per_instance = legend(INSTANCE)
    cpu = kit.Row("CPU", [
        timeseries("CPU by instance", prometheus(Metric(PROCESS_CPU_TIME).rate(by=[INSTANCE]), per_instance),
                   unit="short", description="CPU seconds per second: 1 is one core busy."),
        timeseries("CPU by mode",
                   prometheus(Metric(PROCESS_CPU_TIME).rate(by=["cpu.mode"]), legend("cpu.mode")),
                   unit="short", stack=True),
    ])
    memory = kit.Row("Memory", [
        timeseries("Resident memory by instance",
                   prometheus(Metric(PROCESS_MEMORY_USAGE).value(by=[INSTANCE]), per_instance), unit="bytes"),
        timeseries("Virtual memory by instance",
                   prometheus(Metric(PROCESS_MEMORY_VIRTUAL).value(by=[INSTANCE]), per_instance),
                   unit="bytes"),
    ])
    resources = kit.Row("Threads and files", [
        timeseries("Threads by instance",
                   prometheus(Metric(PROCESS_THREADS).value(by=[INSTANCE]), per_instance), unit="short"),
        timeseries("Open file descriptors by instance",
                   prometheus(Metric(PROCESS_OPEN_FDS).value(by=[INSTANCE]), per_instance), unit="short"),
    ])
    python = kit.Row("Interpreter", [
        timeseries("Garbage collections by generation",
                   prometheus(Metric(GC_COLLECTIONS).rate(by=[INSTANCE, GENERATION]),
                              legend(INSTANCE, GENERATION)),
                   unit="ops"),
        timeseries("Context switches by instance",
                   prometheus(Metric(PROCESS_CONTEXT_SWITCHES).rate(by=[INSTANCE]), per_instance),
                   unit="ops"),
    ])
    return kit.dashboard(
        "runtime", "Runtime", settings, [cpu, memory, resources, python],
        description="The service's processes: one series per instance, i.e. per worker.",
    )
