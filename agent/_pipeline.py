"""The running agent: providers, queues and exporters for the three signals, built and stopped as one.

The metrics SDK is the exception: :mod:`obs.agent._metrics.lazy_sdk` builds it at its first need, not here.

:meth:`Pipeline.build` creates everything without touching global state, so a failure leaves nothing
behind; :meth:`Pipeline.install` then makes the providers global.
:meth:`Pipeline.shutdown` shares one time budget among the signals, on demand: a signal may use what is left
but :data:`RESERVE_S` for each signal after it (at least an equal part), and what it does not use goes to the
next. The first export of a short process happens at exit and pays for the others too (the fallback probe,
the encoders' imports: under CPU load, more than a third of the budget). A local destination (a file, stdout),
which cannot hang on a peer, may finish writing what it holds up to :data:`LOCAL_GRACE_S` past the budget;
what is still not exported then is counted in the one exit line, metrics included.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from obs.agent import catalog
from obs.agent._compat import LogRecordExporter, get_logger_provider, update_resource
from obs.agent._config.check import AgentConfig
from obs.agent._config.resource import build_resource, process_facts
from obs.agent._errors import configure as configure_errors
from obs.agent._export import losses
from obs.agent._export.destination import Destination, LogExporter, SpanExporterToDestination
from obs.agent._instrument import use_own_middleware
from obs.agent._logs import LogsHandle, start_logs
from obs.agent._metrics.lazy_sdk import LAST_EXPORT_MIN_S, LazyMetrics
from obs.agent._metrics.lazy_sdk import install as install_metrics
from obs.agent._server.target import configure as send_server_requests_to
from obs.agent._support import scrub
from obs.agent._support.fork import STATE, at_fork_weakly
from obs.agent._support.report import error_once, say_once
from obs.agent._traces.failures import KeepFailedServerSpans, ServerSpanFailures
from obs.agent._traces.sampling import build_sampler
from obs.agent._traces.span_queue import SpanQueue
from obs.agent.settings import Settings
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

TYPE_CHECKING = False  # the metrics SDK is not imported at boot
if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader

__all__ = ["LOCAL_GRACE_S", "RESERVE_S", "SETTLE_S", "Outputs", "Pipeline"]

RESERVE_S = 0.15
"""What a signal leaves for each signal stopped after it: enough for a delivery once the first paid the
imports and the fallback probe."""
LOCAL_GRACE_S = 0.3
"""How far past the exit budget a local destination may go to write what it holds (bounded: a file write
does not wait on a peer, but a full disk or a loaded machine could still make it slow)."""
SETTLE_S = 0.05
"""The least the exit waits, after everything, for export threads still ending (deliveries aborted at
close end within milliseconds): then every span and record is counted once."""


@dataclass
class Outputs:
    """Where the pipeline sends things: built from the routes, or in-memory ones from the test fixture."""

    span_processor: SpanProcessor | None = None
    metric_destination: Destination | None = None
    metric_readers: Sequence[MetricReader] = ()
    log_exporter: LogRecordExporter | None = None
    destinations: list[Destination] = field(default_factory=list)

    @classmethod
    def from_config(cls, settings: Settings, config: AgentConfig) -> Outputs:
        outputs = cls()
        routes = config.routes
        if routes["traces"].exporter != "none":
            traces = Destination(routes["traces"], settings)
            outputs.destinations.append(traces)
            limits = config.span_limits
            exporter = SpanExporterToDestination(traces, limits.export_timeout_ms / 1000.0)
            outputs.span_processor = SpanQueue(exporter, limits)
        if routes["metrics"].exporter != "none":
            metrics = Destination(routes["metrics"], settings)
            outputs.destinations.append(metrics)
            outputs.metric_destination = metrics
        if routes["logs"].exporter != "none":
            logs = Destination(routes["logs"], settings)
            outputs.destinations.append(logs)
            outputs.log_exporter = LogExporter(logs)
        return outputs


@dataclass
class Pipeline:
    settings: Settings
    resource: Resource
    tracer_provider: TracerProvider
    metrics: LazyMetrics
    outputs: Outputs
    logs: LogsHandle | None = None
    _stopped: bool = False
    _local_deadline: float = 0.0

    @classmethod
    def build(cls, settings: Settings, config: AgentConfig, outputs: Outputs) -> Pipeline:
        """Create everything, install nothing global (but the scrubber and the error groups' switch that the
        settings describe); a failure on the way undoes the rest."""
        scrub.configure(scrub.Scrubber(settings.scrub_patterns, settings.scrub_allow, enabled=settings.scrub))
        configure_errors(settings.error_groups)
        resource = build_resource(settings)
        tracing = outputs.span_processor is not None
        sampler = build_sampler(config.sampler if tracing else "always_off", settings.traces_sampler_arg)
        tracer_provider = TracerProvider(
            sampler=KeepFailedServerSpans(sampler) if tracing else sampler,
            resource=resource,
            shutdown_on_exit=False,
        )
        metrics = LazyMetrics(settings, config.metric_export_timeout_ms, lambda: tracer_provider.resource,
                              outputs.metric_destination, outputs.metric_readers)
        if outputs.span_processor is not None:
            tracer_provider.add_span_processor(ServerSpanFailures(outputs.span_processor))
            tracer_provider.add_span_processor(outputs.span_processor)
            if isinstance(outputs.span_processor, SpanQueue):
                dropped = metrics.counter(catalog.SPANS_DROPPED.name, catalog.SPANS_DROPPED.unit,
                                          catalog.SPANS_DROPPED.description)
                outputs.span_processor.count_drops_with(dropped)
        pipeline = cls(settings, resource, tracer_provider, metrics, outputs)
        try:
            logs_dropped = metrics.counter(catalog.LOGS_DROPPED.name, catalog.LOGS_DROPPED.unit,
                                           catalog.LOGS_DROPPED.description)
            pipeline.logs = start_logs(settings, resource, outputs.log_exporter, logs_dropped,
                                       config.log_limits)
        except BaseException:
            for destination in outputs.destinations:
                destination.close()
            pipeline.shutdown(0.0)
            raise
        return pipeline

    def install(self) -> None:
        """Make the providers global and follow forks."""
        from opentelemetry import metrics, trace

        trace.set_tracer_provider(self.tracer_provider)
        until_built = install_metrics(self.metrics)
        metrics.set_meter_provider(self.metrics.built or until_built)
        send_server_requests_to(self.tracer_provider, self.outputs.span_processor)
        use_own_middleware(self.settings.server_middleware == "obs")
        at_fork_weakly(STATE, self, after_in_child="after_fork_in_child")

    def after_fork_in_child(self) -> None:
        facts = Resource(process_facts())
        providers: list[Any] = [self.tracer_provider, self.metrics.built, get_logger_provider()]
        for provider in providers:
            update_resource(provider, facts)
        for destination in self.outputs.destinations:
            destination.after_fork_in_child()

    def flush(self, timeout_s: float, *, metrics: bool = True) -> None:
        """Export what was recorded so far, within ``timeout_s`` in all (metrics too, unless told not to:
        an in-memory reader keeps only its latest collection)."""
        deadline = time.monotonic() + timeout_s
        if self.logs is not None:
            self.logs.flush(_share(deadline, 3))
        processor = self.outputs.span_processor
        if processor is not None:
            processor.force_flush(int(_share(deadline, 2) * 1000))
        if not metrics:
            return
        provider = self.metrics.for_the_end()
        if provider is not None:
            provider.force_flush(int(max(deadline - time.monotonic(), 0.0) * 1000))
        else:
            self.metrics.export_without_sdk(max(deadline - time.monotonic(), 0.0))

    def shutdown(self, budget_s: float) -> None:
        """Flush and stop everything within ``budget_s`` seconds. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + budget_s
        self._local_deadline = deadline + LOCAL_GRACE_S
        for destination in self.outputs.destinations:
            destination.close_by(self._local_deadline if destination.local else deadline)
        steps = (
            ("stopping the span export", self._stop_spans),
            ("stopping the logs bridge", self._stop_logs),
            ("stopping the metrics export", self._stop_metrics),
        )
        for what, step in steps:
            try:
                step(deadline)
            except Exception as error:
                error_once(what, error)
        try:
            self.tracer_provider.shutdown()
        except Exception as error:
            error_once("stopping the tracer provider", error)
        for destination in self.outputs.destinations:
            destination.close()
        self._say_losses(deadline)

    def _say_losses(self, deadline: float) -> None:
        """One line for spans and log records alike: how many were not exported, and why. The export
        threads, whose deliveries were aborted at close, have had the metrics' time to end; they get a last
        moment (what is left of the budget, at least :data:`SETTLE_S`, at most twice that) so that each
        span and record is counted once, as delivered or lost."""
        processor = self.outputs.span_processor
        wait = min(max(deadline - time.monotonic(), SETTLE_S), 2 * SETTLE_S)
        settle_by = max(time.monotonic() + wait, self._end_for(self._signal_destination("traces"), deadline))
        if isinstance(processor, SpanQueue):
            processor.settle(max(settle_by - time.monotonic(), 0.0))
        if self.logs is not None:
            settle_by = max(settle_by, self._end_for(self._signal_destination("logs"), deadline))
            self.logs.settle(max(settle_by - time.monotonic(), 0.0))
        spans = processor.lost() if isinstance(processor, SpanQueue) else {}
        span_queue = processor.limits.max_queue_size if isinstance(processor, SpanQueue) else 0
        logs = dict(self.logs.losses.by_reason or {}) if self.logs is not None else {}
        log_queue = self.logs.max_queue if self.logs is not None else 0
        metrics = self.outputs.metric_destination
        points = metrics.unexported_points if metrics is not None else 0
        skipped = metrics.skipped_at_exit if metrics is not None else False
        line = losses.exit_line(spans, logs, span_queue, log_queue, points, metrics_skipped=skipped)
        if line is not None:
            say_once("not-exported", line.removeprefix("obs: "))

    def _signal_destination(self, signal: str) -> Destination | None:
        return next((destination for destination in self.outputs.destinations
                     if destination.route.signal == signal), None)

    def _end_for(self, destination: Destination | None, deadline: float) -> float:
        """The exit's deadline, or the local grace's for a destination in this process (decided by now:
        the first delivery probed for a collector and chose)."""
        if destination is not None and destination.local:
            return self._local_deadline
        return deadline

    def _stop_spans(self, deadline: float) -> None:
        processor = self.outputs.span_processor
        if isinstance(processor, SpanQueue):
            processor.close(_claim(self._end_for(self._signal_destination("traces"), deadline), 2))
        elif processor is not None:
            processor.shutdown()

    def _stop_logs(self, deadline: float) -> None:
        if self.logs is not None:
            self.logs.shutdown(_claim(self._end_for(self._signal_destination("logs"), deadline), 1),
                               say_losses=False)

    def _stop_metrics(self, deadline: float) -> None:
        """The readers' last collection and export, then the provider (which has nothing left to do).
        Unbuilt, the metrics SDK is built now only for observable instruments that wait for it; else the
        process metrics and RED figures go out without it."""
        provider = self.metrics.for_the_end()
        self.metrics.close()
        # a build under way on the first-export thread ended in close(): its reader still has to export
        provider = provider or self.metrics.built
        destination = self.outputs.metric_destination
        end = self._end_for(destination, deadline)
        if provider is None:
            self.metrics.export_without_sdk(max(end - time.monotonic(), 0.0))
            provider = self.metrics.built  # a build that outlived close()'s wait and ended meanwhile
            if provider is None:
                return
        left = max(end - time.monotonic(), 0.0)
        if left < LAST_EXPORT_MIN_S and destination is not None:
            destination.skipped_at_exit = True  # the reader skips its last collection: said at exit
        for reader in self.metrics.readers:
            reader.shutdown(timeout_millis=max(end - time.monotonic(), 0.0) * 1000)
        provider.shutdown(timeout_millis=60_000)


def _share(deadline: float, parts: int) -> float:
    """An equal part of the time left before ``deadline``."""
    return max(deadline - time.monotonic(), 0.0) / parts


def _claim(deadline: float, after: int) -> float:
    """What a signal stopped before ``after`` others may use: all that is left before ``deadline`` but
    :data:`RESERVE_S` for each of them, and at least an equal part."""
    left = max(deadline - time.monotonic(), 0.0)
    return max(left / (after + 1), left - after * RESERVE_S)

