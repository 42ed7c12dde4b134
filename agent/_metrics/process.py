"""Process and runtime metrics from psutil and the garbage collector, named as in :mod:`obs.agent.catalog`.

Each measurement describes the process that makes it: the psutil handle is taken at the first collection and
again after a fork (a fork hook forgets it), so a forked gunicorn worker reports its own memory and CPU, never
its master's (the trap of the stock system-metrics instrumentation, whose handle is taken in the master).
psutil is imported on the metrics thread, at the first collection. The same readings feed the SDK's observable
instruments and, in a process that never built the metrics SDK, :mod:`obs.agent._metrics.without_sdk`.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from obs.agent import catalog
from obs.agent._support.fork import STATE, at_fork_weakly
from obs.agent._support.late_imports import load
from obs.agent._support.report import error_once
from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["ProcessMetrics"]


class ProcessMetrics:
    """Registers one observable instrument per catalog entry; the callbacks read this process."""

    def __init__(self) -> None:
        self._process: Any = None
        self._last_cpu: tuple[float, float] | None = None
        at_fork_weakly(STATE, self, after_in_child="_forget")

    def _current(self) -> Any:
        if self._process is None:
            self._process = load("psutil").Process(os.getpid())
            self._last_cpu = None
        return self._process

    def _forget(self) -> None:
        """A forked child reads itself, not the parent the handle was taken in."""
        self._process = None

    def readings(self) -> list[tuple[catalog.Instrument, Callable[[CallbackOptions], Iterable[Observation]]]]:
        """Each catalog instrument with its callback, which reads this process now (a failure: said once,
        no observations)."""
        reads: tuple[tuple[catalog.Instrument, Callable[[], Iterable[Observation]]], ...] = (
            (catalog.PROCESS_CPU_TIME, self._cpu_time),
            (catalog.PROCESS_CPU_UTILIZATION, self._cpu_utilization),
            (catalog.PROCESS_MEMORY_USAGE, lambda: [Observation(self._current().memory_info().rss)]),
            (catalog.PROCESS_MEMORY_VIRTUAL, lambda: [Observation(self._current().memory_info().vms)]),
            (catalog.PROCESS_THREADS, lambda: [Observation(self._current().num_threads())]),
            (catalog.PROCESS_OPEN_FDS, self._open_fds),
            (catalog.PROCESS_CONTEXT_SWITCHES, self._context_switches),
            (catalog.GC_COLLECTIONS, self._gc_collections),
        )
        return [(instrument, _guarded(instrument.name, read)) for instrument, read in reads]

    def register(self, meter: Meter) -> None:
        for instrument, callback in self.readings():
            create = {
                catalog.Kind.OBSERVABLE_COUNTER: meter.create_observable_counter,
                catalog.Kind.OBSERVABLE_GAUGE: meter.create_observable_gauge,
                catalog.Kind.OBSERVABLE_UP_DOWN_COUNTER: meter.create_observable_up_down_counter,
            }[instrument.kind]
            create(instrument.name, callbacks=[callback], unit=instrument.unit,
                   description=instrument.description)

    def _cpu_time(self) -> list[Observation]:
        times = self._current().cpu_times()
        return [
            Observation(times.user, {"cpu.mode": "user"}),
            Observation(times.system, {"cpu.mode": "system"}),
        ]

    def _cpu_utilization(self) -> list[Observation]:
        process = self._current()
        times = process.cpu_times()
        used = times.user + times.system
        now = time.monotonic()
        last, self._last_cpu = self._last_cpu, (used, now)
        if last is None:
            started = process.create_time()
            wall = max(time.time() - started, 1e-6)
            return [Observation(used / wall)]
        return [Observation((used - last[0]) / max(now - last[1], 1e-6))]

    def _open_fds(self) -> list[Observation]:
        process = self._current()
        count = process.num_fds() if hasattr(process, "num_fds") else process.num_handles()
        return [Observation(count)]

    def _context_switches(self) -> list[Observation]:
        switches = self._current().num_ctx_switches()
        return [
            Observation(switches.voluntary, {"process.context_switch_type": "voluntary"}),
            Observation(switches.involuntary, {"process.context_switch_type": "involuntary"}),
        ]

    @staticmethod
    def _gc_collections() -> list[Observation]:
        return [
            Observation(stats.get("collections", 0), {"cpython.gc.generation": generation})
            for generation, stats in enumerate(gc.get_stats())
        ]


def _guarded(
    name: str, read: Callable[[], Iterable[Observation]]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """A callback that reports its first failure once and then yields nothing, instead of raising."""

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        try:
            return list(read())
        except Exception as error:
            error_once(f"reading {name}", error)
            return []

    return callback
