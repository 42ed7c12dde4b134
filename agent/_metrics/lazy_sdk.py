"""The metrics SDK, built at its first need instead of at boot.

Why: ``opentelemetry.sdk.metrics`` and obs's metrics modules were a fifth of what the boot took with them
(``python -m bench.profile boot`` shows the share), and a script that only
logs has no use for them. What needs the SDK builds it, once, in the process that needs it:

- the first measurement of an instrument (the app's, an instrumentation's, or obs's own drop counters):
  meters handed out before are :class:`obs.agent._metrics.on_first_use.MeterOnFirstUse`;
- readers handed in (``obs.testing``): they are built at once;
- the process still running at its first export interval (process metrics: CPU, memory, GC; the RED
  figures of a server), on a thread of its own, holding the late-import guard of
  :mod:`obs.agent._support.late_imports` so that a fork waits for it;
- a fork, when metrics are expected (a meter was asked for, or a server middleware installed): a gunicorn
  ``--preload`` master builds it once for all its workers;
- an ASGI middleware of obs being installed (FastAPI, Starlette): measured, an SDK left to the first export
  interval cost the FastAPI example under uvicorn 5-7% of its requests per second for good (A/B of 6
  rounds; the cause was not found), where the Flask example under gunicorn lost nothing;
- a flush or the exit, when observable instruments wait for it.

A process that ends before its first export having needed none of these still sends its process metrics and
RED figures, at exit, without the SDK (:mod:`obs.agent._metrics.without_sdk`). Nothing recorded is lost: the
RED store counts every request whether the SDK is built or not, and an instrument's first measurement builds
it.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from obs.agent import catalog
from obs.agent._compat import meter_provider_resource, point_the_metrics_api_at, suppress_instrumentation
from obs.agent._metrics.on_first_use import MeterOnFirstUse
from obs.agent._support.fork import METRICS, at_fork_weakly
from obs.agent._support.greenlets import join_quietly, threads_wait_after_fork
from obs.agent._support.greenlets import register as follow_gevent
from obs.agent._support.late_imports import held_for_fork, interrupted, late_imports
from obs.agent._support.report import error_once
from obs.agent._support.threads import start
from opentelemetry.metrics import Counter, Meter, MeterProvider, NoOpMeter
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from obs.agent._export.destination import Destination
    from obs.agent.settings import Settings
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader

__all__ = ["LazyMetrics", "MeterProviderOnFirstUse", "current", "expect"]

LAST_EXPORT_MIN_S = 0.02
"""Less time than this left at the end: no process metrics without the SDK (as the periodic reader skips its
last collection then), unless the destination is local (a file: it cannot hang); a skip is said in the
exit line (:attr:`Destination.skipped_at_exit`)."""
_CLOSE_WAIT_S = 0.2
"""The most :meth:`LazyMetrics.close` waits for a build under way on another thread."""


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
        self._expected = False
        self._when_built: list[Callable[[SdkMeterProvider], object]] = []
        self._timer: threading.Thread | None = None
        self._fresh_state()
        follow_gevent(self)
        at_fork_weakly(METRICS, self, before="_before_fork", after_in_child="_after_fork_in_child")
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
        # The import guard first, then this lock, always in that order: an import under the guard
        # (obs.agent._support.late_imports.load) may install a middleware, which comes here.
        with late_imports(), self._lock:
            if self._built is None and not self._closed and not self._building:
                self._building = True
                try:
                    self._built = self._build()
                except Exception as error:
                    self._closed = True
                    error_once("building the metrics pipeline", error)
                finally:
                    self._building = False
            return self._built

    def _build(self) -> SdkMeterProvider:
        from obs.agent._metrics.process import ProcessMetrics
        from obs.agent._metrics.red_data import attach_to_reader
        from obs.agent._metrics.sdk import MetricExporterToDestination, PeriodicReader, build_meter_provider

        readers = list(self._given_readers)
        exporter = None
        if self._destination is not None:
            exporter = MetricExporterToDestination(self._destination)
            readers.append(PeriodicReader(exporter, self._settings.metric_export_interval,
                                          self._export_timeout_ms))
        resource = self._resource()
        provider = build_meter_provider(resource, readers)
        if exporter is not None:
            dropped = catalog.METRICS_DROPPED
            exporter.count_drops_with(provider.get_meter(catalog.AGENT_SCOPE).create_counter(
                dropped.name, unit=dropped.unit, description=dropped.description))
        for reader in readers:
            attach_to_reader(reader, functools.partial(_current_resource, provider, resource))
        if self._settings.runtime_metrics:
            ProcessMetrics().register(provider.get_meter(catalog.PROCESS_SCOPE))
        self.readers = readers
        _point_the_api_at(provider)
        waiting, self._when_built = self._when_built, []
        for register in waiting:
            try:
                register(provider)
            except Exception as error:
                error_once("making an observable instrument", error)
        # as at boot (obs.agent._lifecycle): what the build made lives on; full collections skip it
        gc.freeze()
        return provider

    def when_built(self, register: Callable[[SdkMeterProvider], object]) -> None:
        """Call ``register`` with the SDK's provider as soon as it is built (now, if it is)."""
        with late_imports(), self._lock:
            if self._built is None:
                self._when_built.append(register)
                return
        register(self._built)

    def meter(self, name: str, version: str | None = None, schema_url: str | None = None,
              attributes: Attributes | None = None, *, expects: bool = True) -> Meter:
        """The SDK's meter once built; until then one whose first measurement builds it. ``expects``: a
        meter asked for means metrics are coming (:meth:`expect`)."""
        built = self._built
        if built is not None:
            return built.get_meter(name, version, schema_url, attributes)
        if self._closed:
            return NoOpMeter(name, version=version, schema_url=schema_url)
        if expects:
            self._expected = True

        def real() -> Meter | None:
            provider = self.provider()
            return None if provider is None else provider.get_meter(name, version, schema_url, attributes)

        def on_build(make: Callable[[Meter], object]) -> None:
            self.when_built(lambda provider: make(provider.get_meter(name, version, schema_url, attributes)))

        return MeterOnFirstUse(name, version, schema_url, real, on_build)

    def expect(self, *, build_now: bool = False) -> None:
        """Metrics are coming (a server middleware was installed): build now if asked, else before a fork
        (so that the workers share it), at the first export interval or at exit."""
        self._expected = True
        if build_now:
            self.provider()

    def for_the_end(self) -> SdkMeterProvider | None:
        """The SDK's provider for a flush or the exit: built now if observable instruments wait for it
        (their callbacks need it); None when the process metrics and RED figures are to go out without it
        (:meth:`export_without_sdk`)."""
        if self._built is None and self._when_built:
            return self.provider()
        return self._built

    def export_without_sdk(self, timeout_s: float) -> None:
        """Never built: send the process metrics and the RED figures anyway, without the SDK
        (:mod:`obs.agent._metrics.without_sdk`); a script or a short-lived server still shows in the
        dashboards."""
        destination = self._destination
        if self._built is not None or destination is None:
            return
        if timeout_s < LAST_EXPORT_MIN_S and not destination.local:
            destination.skipped_at_exit = True  # no time left to deliver it: said in the exit line
            return
        from obs.agent._metrics.without_sdk import final_metrics

        found = final_metrics(self._resource(), self._started_ns, process=self._settings.runtime_metrics)
        if found is not None:
            request, points = found
            delivered = destination.deliver(request, timeout_s)
            destination.unexported_points = 0 if delivered else points
            destination.skipped_at_exit = False

    def counter(self, name: str, unit: str, description: str) -> Counter:
        """obs's own counter (its drop counters), which builds the SDK at its first ``add``: most processes
        never drop anything. Not marked as expected: a fork need not build for it."""
        meter = self.meter(catalog.AGENT_SCOPE, expects=False)
        return meter.create_counter(name, unit=unit, description=description)

    def _start_timer(self) -> None:
        """The first export interval's timer; none where the exiting interpreter refuses its thread (the exit
        exports anyway: :meth:`for_the_end`)."""
        stop = self._stop_timer
        self._timer = threading.Thread(target=self._build_at_first_export, args=(stop,),
                                       name="obs-metrics-start", daemon=True)
        start(self._timer)

    def _build_at_first_export(self, stop: threading.Event) -> None:
        """Still running at the first export interval: build, and export now rather than one interval on."""
        if stop.wait(self._settings.metric_export_interval / 1000.0):
            return
        suppress_instrumentation()
        if self._built is None and self.provider() is not None:
            for reader in self.readers:
                reader.force_flush(timeout_millis=self._export_timeout_ms)

    def _before_fork(self) -> None:
        """A process about to fork with metrics expected builds them now: the children inherit the SDK
        (and share its memory) instead of each importing it. A build under way on another thread (the first
        export's timer) was waited for already (obs.agent._support.late_imports); when that wait gave up, the
        build or import is stuck and holds the guard: waiting for it here would hang the fork."""
        if (self._expected and self._built is None and not self._closed and not self._building
                and held_for_fork()):
            self.provider()

    def _after_fork_in_child(self) -> None:
        """The parent's timer did not come along, and a build it had under way is the parent's. A build
        the fork went ahead of, stuck (obs.agent._support.late_imports), may have left a module of the SDK
        half-imported: building here would wait for it for ever, on the app's thread, so none is made."""
        self._fresh_state()
        self._timer = None
        if self._built is None and not self._closed and interrupted():
            self._closed = True
            error_once("building the metrics pipeline",
                       RuntimeError("the process forked while another thread was importing it"))
            return
        if self._waits_for_first_export() and not threads_wait_after_fork():
            self._start_timer()

    def _waits_for_first_export(self) -> bool:
        return self._built is None and not self._closed and self._destination is not None

    def pause_for_patching(self) -> None:
        self._stop_timer.set()
        join_quietly(self._timer)

    def resume_after_patching(self) -> None:
        """New locks (gevent's), and the timer again if nothing built the metrics meanwhile."""
        self._fresh_state()
        if self._waits_for_first_export():
            self._start_timer()

    def close(self) -> None:
        """No build from now on (the exit); a built provider is the pipeline's to shut down. Waits a bounded
        time for a build under way: one stuck (an import lock that gevent's patching left held by a thread
        it could not account for) must not hold up the exit."""
        self._stop_timer.set()
        held = self._lock.acquire(timeout=_CLOSE_WAIT_S)
        try:
            self._closed = True
        finally:
            if held:
                self._lock.release()


_current: list[LazyMetrics] = []


def install(metrics: LazyMetrics) -> MeterProviderOnFirstUse:
    """Make ``metrics`` the one :func:`expect` tells; the returned provider is the API's global."""
    _current[:] = [metrics]
    return MeterProviderOnFirstUse(metrics)


def current() -> LazyMetrics | None:
    """The running pipeline's metrics, if any (:mod:`obs.agent._errors` registers its instruments there)."""
    return _current[0] if _current else None


def expect(*, build_now: bool = False) -> None:
    """RED metrics are coming: obs's server middlewares call this when they are installed (see
    :meth:`LazyMetrics.expect`)."""
    for metrics in _current:
        metrics.expect(build_now=build_now)


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
        return self._metrics.meter(name, version, schema_url, attributes)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        provider = self._metrics.built
        return True if provider is None else provider.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        provider = self._metrics.built
        if provider is not None:
            provider.shutdown(timeout_millis)

    def __getattr__(self, name: str) -> Any:
        """Anything else the SDK's provider has (code written against it), which builds it."""
        if name.startswith("__") or name == "_metrics":
            raise AttributeError(name)  # copy, pickle and the like probe for these: no reason to build
        provider = self._metrics.provider()
        if provider is None:
            raise AttributeError(name)
        return getattr(provider, name)


def _point_the_api_at(provider: SdkMeterProvider) -> None:
    """Once built, ``metrics.get_meter_provider()`` returns the SDK's provider itself, as without laziness
    (code that checks its type, or reaches for its SDK-only methods). Private API: left alone if it moved."""
    try:
        point_the_metrics_api_at(provider, MeterProviderOnFirstUse)
    except Exception as error:
        error_once("pointing the metrics API at the meter provider", error)


def _current_resource(provider: SdkMeterProvider, built: Resource) -> Resource:
    """The meter provider's resource as it is now (a forked worker's has its own pid and instance id)."""
    return meter_provider_resource(provider) or built
