"""The metrics SDK, built at its first need instead of at boot.

Why: ``opentelemetry.sdk.metrics`` and obs's metrics modules take about 16 ms to import on this project's
machine, a fifth of what the boot took with them (``python -m bench.profile boot``), and a script that only
logs has no use for them. What needs the SDK builds it, once, in the process that needs it:

- a server middleware of obs being installed (its RED metrics): at the app's import time, not in a request;
- the app or an instrumentation asking the global meter provider for a meter;
- obs counting a drop of spans or log records;
- readers handed in (``obs.testing``): they are built at once;
- the process still running at its first export interval (process metrics: CPU, memory, GC), on a thread
  of its own, holding the late-import guard of :mod:`obs.agent._lazy` so that a fork waits for it;
- a flush or the exit, when the RED store holds requests.

A process that ends before its first export and recorded none of these sends no metrics: its process metrics
would have been a single point, which gives no rate. Nothing recorded is lost: the RED store counts every
request whether the SDK is built or not, and instruments are only made by a meter, which builds it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from obs.agent._forkhooks import at_fork_weakly
from obs.agent._lazy import late_imports
from obs.agent._red import server_requests
from obs.agent._report import error_once
from opentelemetry.metrics import Counter, Meter, MeterProvider, NoOpCounter, NoOpMeter
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from obs.agent._export import Destination
    from obs.agent.settings import Settings
    from opentelemetry.context import Context
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader

__all__ = ["LazyMetrics", "MeterProviderOnFirstUse", "need"]

_LAST_EXPORT_MIN_S = 0.02
"""Less time than this left at the end: no process metrics without the SDK (as the periodic reader skips its
last collection then)."""


class LazyMetrics:
    """The process's meter provider and readers, built by :meth:`provider` at the first need."""

    def __init__(
        self,
        settings: Settings,
        export_timeout_ms: int,
        resource: Callable[[], Resource],
        destination: Destination | None,
        readers: Sequence[MetricReader] = (),
    ) -> None:
        self._settings = settings
        self._export_timeout_ms = export_timeout_ms
        self._resource = resource
        self._destination = destination
        self._given_readers = list(readers)
        self._built: SdkMeterProvider | None = None
        self.readers: list[MetricReader] = []
        self._closed = False
        self._fresh_state()
        at_fork_weakly(self, after_in_child="_after_fork_in_child")
        if self._given_readers:
            self.provider()
        elif destination is not None:
            self._start_timer()

    def _fresh_state(self) -> None:
        self._started_ns = time.time_ns()
        self._lock = threading.RLock()
        self._building = False
        self._stop_timer = threading.Event()

    @property
    def built(self) -> SdkMeterProvider | None:
        """The SDK's meter provider, or None while nothing needed it."""
        return self._built

    def provider(self) -> SdkMeterProvider | None:
        """The SDK's meter provider, built now if it was not; None once closed unbuilt, or if building
        failed (said once) or is under way further up this thread's stack."""
        built = self._built
        if built is not None or self._closed:
            return built
        with self._lock:
            if self._built is None and not self._closed and not self._building:
                self._building = True
                try:
                    with late_imports():
                        self._built = self._build()
                except Exception as error:
                    self._closed = True
                    error_once("building the metrics pipeline", error)
                finally:
                    self._building = False
            return self._built

    def _build(self) -> SdkMeterProvider:
        from obs.agent._metrics import MetricExporterToDestination, PeriodicReader, build_meter_provider
        from obs.agent._process_metrics import SCOPE, ProcessMetrics
        from obs.agent._red_reader import attach_to_reader

        readers = list(self._given_readers)
        if self._destination is not None:
            exporter = MetricExporterToDestination(self._destination)
            readers.append(PeriodicReader(exporter, self._settings.metric_export_interval,
                                          self._export_timeout_ms))
        resource = self._resource()
        provider = build_meter_provider(resource, readers)
        for reader in readers:
            attach_to_reader(reader, functools.partial(_current_resource, provider, resource))
        if self._settings.runtime_metrics:
            ProcessMetrics().register(provider.get_meter(SCOPE))
        self.readers = readers
        _point_the_api_at(provider)
        return provider

    def needed_at_the_end(self) -> bool:
        """Whether a flush or the exit must build the SDK: the RED store holds requests to export."""
        return self._built is None and server_requests().holds_requests()

    def export_process_metrics_unbuilt(self, timeout_s: float) -> None:
        """Never built: send the process metrics anyway, without the SDK (:mod:`obs.agent._process_snapshot`);
        a script that logs and ends still shows its memory and CPU."""
        if self._built is not None or self._destination is None or not self._settings.runtime_metrics:
            return
        if timeout_s < _LAST_EXPORT_MIN_S:
            return  # no time left to deliver it (a build that failed is undone with none)
        from obs.agent._process_snapshot import process_metrics_request

        self._destination.deliver(process_metrics_request(self._resource(), self._started_ns), timeout_s)

    def counter(self, name: str, unit: str, description: str) -> Counter:
        """A counter that builds the SDK at its first ``add`` (obs's drop counters: most processes never
        drop anything)."""
        return _CounterOnFirstUse(self, name, unit, description)

    def _start_timer(self) -> None:
        stop = self._stop_timer
        threading.Thread(target=self._build_at_first_export, args=(stop,), name="obs-metrics-start",
                         daemon=True).start()

    def _build_at_first_export(self, stop: threading.Event) -> None:
        """Still running at the first export interval: build, and export now rather than one interval on."""
        from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value

        if stop.wait(self._settings.metric_export_interval / 1000.0):
            return
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        if self._built is None and self.provider() is not None:
            for reader in self.readers:
                reader.force_flush(timeout_millis=self._export_timeout_ms)

    def _after_fork_in_child(self) -> None:
        """The parent's timer did not come along, and a build it had under way is the parent's."""
        self._fresh_state()
        if self._built is None and not self._closed and self._destination is not None:
            self._start_timer()

    def close(self) -> None:
        """No build from now on (the exit); a built provider is the pipeline's to shut down."""
        self._stop_timer.set()
        with self._lock:
            self._closed = True


_current: list[LazyMetrics] = []


def install(metrics: LazyMetrics) -> MeterProviderOnFirstUse:
    """Make ``metrics`` the one :func:`need` builds; the returned provider is the API's global."""
    _current[:] = [metrics]
    return MeterProviderOnFirstUse(metrics)


def need() -> None:
    """Build the metrics SDK now, if an agent is running (obs's server middlewares call this when they are
    installed: RED metrics are coming)."""
    for metrics in _current:
        metrics.provider()


class MeterProviderOnFirstUse(MeterProvider):
    """The API's global meter provider until the SDK's is built; its first meter builds it."""

    def __init__(self, metrics: LazyMetrics) -> None:
        self._metrics = metrics

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> Meter:
        provider = self._metrics.provider()
        if provider is None:
            return NoOpMeter(name, version=version, schema_url=schema_url)
        return provider.get_meter(name, version, schema_url, attributes)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        provider = self._metrics.built
        return True if provider is None else provider.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        provider = self._metrics.built
        if provider is not None:
            provider.shutdown(timeout_millis)

    def __getattr__(self, name: str) -> Any:
        """Anything else the SDK's provider has (code written against it), which builds it."""
        if name.startswith("__"):
            raise AttributeError(name)  # copy, pickle and the like probe for these: no reason to build
        provider = self._metrics.provider()
        if provider is None:
            raise AttributeError(name)
        return getattr(provider, name)


class _CounterOnFirstUse(Counter):
    def __init__(self, metrics: LazyMetrics, name: str, unit: str, description: str) -> None:
        self._metrics = metrics
        self._shape = (name, unit, description)
        self._counter: Counter | None = None

    def add(self, amount: int | float, attributes: Attributes | None = None, context: Context | None = None,
            ) -> None:
        counter = self._counter
        if counter is None:
            name, unit, description = self._shape
            provider = self._metrics.provider()
            counter = self._counter = (
                provider.get_meter("obs.agent").create_counter(name, unit=unit, description=description)
                if provider is not None else NoOpCounter(name)
            )
        counter.add(amount, attributes, context)


def _point_the_api_at(provider: SdkMeterProvider) -> None:
    """Once built, ``metrics.get_meter_provider()`` returns the SDK's provider itself, as without laziness
    (code that checks its type, or reaches for its SDK-only methods). Private API: left alone if it moved."""
    try:
        from opentelemetry.metrics import _internal as api

        if isinstance(getattr(api, "_METER_PROVIDER", None), MeterProviderOnFirstUse):
            api._METER_PROVIDER = provider
    except Exception as error:
        error_once("pointing the metrics API at the meter provider", error)


def _current_resource(provider: SdkMeterProvider, built: Resource) -> Resource:
    """The meter provider's resource as it is now (a forked worker's has its own pid and instance id)."""
    config = getattr(provider, "_sdk_config", None)
    resource = getattr(config, "resource", None)
    return resource if isinstance(resource, Resource) else built
