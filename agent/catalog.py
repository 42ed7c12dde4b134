"""The one description of the telemetry the agent emits: instrument names, units, kinds and attributes.

The agent creates its own instruments from these entries, and the dashboards and alert rules derive every
PromQL series name from them with :func:`prometheus_name`, so a panel can never ask for a metric the app does
not send. Instruments made by upstream instrumentations (HTTP, database) are described here too, as they are
emitted under the stable semantic conventions that the agent opts into (``OTEL_SEMCONV_STABILITY_OPT_IN``).

Ground floor: standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "AGENT_SCOPE",
    "CATALOG",
    "DATASOURCE_UIDS",
    "DB_CLIENT_DURATION",
    "DJANGO_DB_SCOPE",
    "DROPPED_INSTRUMENTS",
    "ERRORS",
    "ERRORS_FIRST_SEEN",
    "ERRORS_LAST_SEEN",
    "ERROR_GROUP_ATTRIBUTES",
    "GC_COLLECTIONS",
    "HTTP_CLIENT_DURATION",
    "HTTP_SERVER_ACTIVE_REQUESTS",
    "HTTP_SERVER_DURATION",
    "LATENCY_BUCKETS_SECONDS",
    "LOGS_DROPPED",
    "METRICS_DROPPED",
    "PROCESS_CONTEXT_SWITCHES",
    "PROCESS_CPU_TIME",
    "PROCESS_CPU_UTILIZATION",
    "PROCESS_MEMORY_USAGE",
    "PROCESS_MEMORY_VIRTUAL",
    "PROCESS_OPEN_FDS",
    "PROCESS_SCOPE",
    "PROCESS_THREADS",
    "PROMOTED_RESOURCE_ATTRIBUTES",
    "SEMCONV_OPT_IN",
    "SERVER_SCOPE",
    "SPANS_DROPPED",
    "TASK_DURATION",
    "TASK_QUEUE_WAIT",
    "TASK_RUNS",
    "Instrument",
    "Kind",
    "Source",
    "label",
    "prometheus_name",
    "series_names",
]

SERVER_SCOPE = "obs.agent.http_server"
"""The instrumentation scope of obs's own server middlewares: their spans and the RED metrics."""
PROCESS_SCOPE = "obs.process"
"""The meter of the process and runtime metrics, with the metrics SDK or without it."""
AGENT_SCOPE = "obs.agent"
"""The meter of obs's own counters (``obs.spans.dropped``, ``obs.logs.dropped``, ``obs.metrics.dropped``)."""
DJANGO_DB_SCOPE = "obs.agent.django.db"
"""The tracer of Django's ORM queries (obs.agent._traces.django_db)."""

SEMCONV_OPT_IN = "http,database"
"""Value of ``OTEL_SEMCONV_STABILITY_OPT_IN`` the agent sets: stable HTTP and database conventions only."""

PROMOTED_RESOURCE_ATTRIBUTES = ("service.name", "service.instance.id", "deployment.environment.name")
"""Resource attributes that become labels in PromQL (promoted by the generated Prometheus config)."""

DATASOURCE_UIDS = {"metrics": "obs-prometheus", "traces": "obs-tempo", "logs": "obs-loki"}
"""Fixed Grafana datasource uids: obs.collector provisions them, the dashboards refer to them."""

LATENCY_BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""Bucket bounds of the duration histograms (the semantic conventions' advice)."""


class Kind(Enum):
    """Instrument kinds, named after the OpenTelemetry API calls that create them."""

    COUNTER = "counter"
    UP_DOWN_COUNTER = "up_down_counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"
    OBSERVABLE_COUNTER = "observable_counter"
    OBSERVABLE_UP_DOWN_COUNTER = "observable_up_down_counter"
    OBSERVABLE_GAUGE = "observable_gauge"

    @property
    def monotonic(self) -> bool:
        return self in (Kind.COUNTER, Kind.OBSERVABLE_COUNTER)


class Source(Enum):
    """Who emits the instrument: an upstream instrumentation, or obs's own code."""

    HTTP_SERVER = "http_server"
    HTTP_CLIENT = "http_client"
    DATABASE = "database"
    PROCESS = "process"
    TASKS = "tasks"
    AGENT = "agent"


@dataclass(frozen=True)
class Instrument:
    """One metric as the agent emits it."""

    name: str
    unit: str
    kind: Kind
    description: str
    source: Source
    attributes: tuple[str, ...] = ()

    @property
    def prometheus(self) -> str:
        """The series name in a PromQL engine (without ``_bucket``/``_sum``/``_count`` for histograms)."""
        return prometheus_name(self)

    def series(self, suffix: str = "") -> str:
        """``series("bucket")`` gives ``..._seconds_bucket``; histograms need a suffix to be queried."""
        base = self.prometheus
        return f"{base}_{suffix}" if suffix else base


HTTP_SERVER_DURATION = Instrument(
    "http.server.request.duration", "s", Kind.HISTOGRAM, "Duration of HTTP server requests.",
    Source.HTTP_SERVER,
    ("http.request.method", "http.route", "http.response.status_code", "error.type", "url.scheme"),
)
HTTP_SERVER_ACTIVE_REQUESTS = Instrument(
    "http.server.active_requests", "{request}", Kind.UP_DOWN_COUNTER, "HTTP server requests in flight.",
    Source.HTTP_SERVER, ("http.request.method", "url.scheme"),
)
HTTP_CLIENT_DURATION = Instrument(
    "http.client.request.duration", "s", Kind.HISTOGRAM, "Duration of outgoing HTTP requests.",
    Source.HTTP_CLIENT,
    ("http.request.method", "server.address", "server.port", "http.response.status_code", "error.type"),
)
DB_CLIENT_DURATION = Instrument(
    "db.client.operation.duration", "s", Kind.HISTOGRAM, "Duration of database client operations.",
    Source.DATABASE,
    ("db.system.name", "db.operation.name", "db.collection.name", "db.namespace", "server.address",
     "error.type"),
)
TASK_RUNS = Instrument(
    "celery.task.runs", "{run}", Kind.COUNTER,
    "Task runs finished by this worker process, by task name and outcome (success, failure, retry).",
    Source.TASKS, ("celery.task.name", "celery.task.outcome"),
)
TASK_DURATION = Instrument(
    "celery.task.duration", "s", Kind.HISTOGRAM, "Time a task ran in the worker, prerun to postrun.",
    Source.TASKS, ("celery.task.name", "celery.task.outcome"),
)
TASK_QUEUE_WAIT = Instrument(
    "celery.task.queue_wait", "s", Kind.HISTOGRAM,
    "Time from a task's publication (a header obs adds) to the start of its run (countdown, eta included).",
    Source.TASKS, ("celery.task.name",),
)
PROCESS_CPU_TIME = Instrument(
    "process.cpu.time", "s", Kind.OBSERVABLE_COUNTER, "CPU seconds used by this process.", Source.PROCESS,
    ("cpu.mode",),
)
PROCESS_CPU_UTILIZATION = Instrument(
    "process.cpu.utilization", "1", Kind.OBSERVABLE_GAUGE,
    "CPU used by this process since the last measurement, as a share of one core.", Source.PROCESS,
)
PROCESS_MEMORY_USAGE = Instrument(
    "process.memory.usage", "By", Kind.OBSERVABLE_UP_DOWN_COUNTER, "Resident memory of this process.",
    Source.PROCESS,
)
PROCESS_MEMORY_VIRTUAL = Instrument(
    "process.memory.virtual", "By", Kind.OBSERVABLE_UP_DOWN_COUNTER, "Virtual memory of this process.",
    Source.PROCESS,
)
PROCESS_THREADS = Instrument(
    "process.thread.count", "{thread}", Kind.OBSERVABLE_UP_DOWN_COUNTER, "Threads of this process.",
    Source.PROCESS,
)
PROCESS_OPEN_FDS = Instrument(
    "process.open_file_descriptor.count", "{file_descriptor}", Kind.OBSERVABLE_UP_DOWN_COUNTER,
    "Open file descriptors of this process.", Source.PROCESS,
)
PROCESS_CONTEXT_SWITCHES = Instrument(
    "process.context_switches", "{context_switch}", Kind.OBSERVABLE_COUNTER,
    "Context switches of this process.", Source.PROCESS, ("process.context_switch_type",),
)
GC_COLLECTIONS = Instrument(
    "cpython.gc.collections", "{collection}", Kind.OBSERVABLE_COUNTER,
    "Garbage collector runs, by generation.", Source.PROCESS, ("cpython.gc.generation",),
)
LOGS_DROPPED = Instrument(
    "obs.logs.dropped", "{record}", Kind.COUNTER,
    "Log records obs did not export, by reason: queue_full, endpoint_refused, endpoint_not_answering, "
    "export_failed, queued_at_exit.", Source.AGENT, ("reason",),
)
SPANS_DROPPED = Instrument(
    "obs.spans.dropped", "{span}", Kind.COUNTER,
    "Spans obs did not export, by reason: queue_full, endpoint_refused, endpoint_not_answering, "
    "export_failed, queued_at_exit.", Source.AGENT, ("reason",),
)
METRICS_DROPPED = Instrument(
    "obs.metrics.dropped", "{data_point}", Kind.COUNTER,
    "Metric data points of the exports that failed, by reason: endpoint_refused, endpoint_not_answering, "
    "export_failed, queued_at_exit. Values are cumulative: the next export that succeeds carries the totals "
    "again, but the moments in between are lost.", Source.AGENT, ("reason",),
)

ERROR_GROUP_ATTRIBUTES = ("exception.type", "code.function.name", "obs.error.operation")
"""What an error group is (:mod:`obs.agent._errors`): the exception type, the app's own function where it
was raised (``module.qualified_name``), and the operation it happened in (``METHOD route`` of a request, a
task's name, or empty for an exception logged outside both). ``other`` gathers failures beyond a process's
100 groups."""
ERRORS = Instrument(
    "obs.errors", "{error}", Kind.OBSERVABLE_COUNTER,
    "Failures by group: unhandled exceptions of requests and tasks, and exceptions logged at ERROR.",
    Source.AGENT, ERROR_GROUP_ATTRIBUTES,
)
ERRORS_FIRST_SEEN = Instrument(
    "obs.errors.first_seen", "s", Kind.OBSERVABLE_GAUGE,
    "When this process first met the error group (Unix time).", Source.AGENT, ERROR_GROUP_ATTRIBUTES,
)
ERRORS_LAST_SEEN = Instrument(
    "obs.errors.last_seen", "s", Kind.OBSERVABLE_GAUGE,
    "When this process last met the error group (Unix time); trace_id is a recent failure's trace.",
    Source.AGENT, (*ERROR_GROUP_ATTRIBUTES, "trace_id"),
)

CATALOG: tuple[Instrument, ...] = (
    HTTP_SERVER_DURATION,
    HTTP_SERVER_ACTIVE_REQUESTS,
    HTTP_CLIENT_DURATION,
    DB_CLIENT_DURATION,
    TASK_RUNS,
    TASK_DURATION,
    TASK_QUEUE_WAIT,
    PROCESS_CPU_TIME,
    PROCESS_CPU_UTILIZATION,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREADS,
    PROCESS_OPEN_FDS,
    PROCESS_CONTEXT_SWITCHES,
    GC_COLLECTIONS,
    LOGS_DROPPED,
    SPANS_DROPPED,
    METRICS_DROPPED,
    ERRORS,
    ERRORS_FIRST_SEEN,
    ERRORS_LAST_SEEN,
)

DROPPED_INSTRUMENTS: tuple[str, ...] = ("db.client.response.returned_rows",)
"""Instruments upstream instrumentations make that the agent drops (an SDK view with the drop aggregation),
because no dashboard, alert rule or ``obs view`` reads them: contrib 0.66's DB-API layer records
``db.client.response.returned_rows`` (the cursor's ``rowcount``) beside ``db.client.operation.duration``
on every query, and each query would pay for aggregating and exporting a second histogram."""

_UNIT_WORDS = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "bit": "bits",
    "%": "percent",
    "Hz": "hertz",
}


def _sanitize(text: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_:]", "_", text)
    cleaned = re.sub(r"__+", "_", cleaned)
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"


def label(attribute: str) -> str:
    """The Prometheus label an attribute becomes: ``http.route`` gives ``http_route``."""
    return _sanitize(attribute)


def series_names() -> tuple[str, ...]:
    """Every series name the agent can send, histograms by their ``_count``: any one arriving proves the app
    is reporting (the no-telemetry alert, and the zero a dashboard shows when nothing failed)."""
    return tuple(sorted({
        instrument.series("count") if instrument.kind is Kind.HISTOGRAM else instrument.prometheus
        for instrument in CATALOG
    }))


def prometheus_name(instrument: Instrument) -> str:
    """OpenTelemetry-to-Prometheus name translation, as Prometheus 3 and VictoriaMetrics apply it.

    Dots become underscores; the unit's word is appended (``_seconds``, ``_bytes``), units in braces are
    dropped, ``_ratio`` marks unit ``1`` gauges, and monotonic counters end in ``_total``.
    """
    name = _sanitize(instrument.name)
    unit = instrument.unit
    word = ""
    if unit and not unit.startswith("{"):
        if "/" in unit:
            numerator, denominator = unit.split("/", 1)
            word = f"{_UNIT_WORDS.get(numerator, numerator)}_per_{_UNIT_WORDS.get(denominator, denominator)}"
        elif unit == "1":
            word = "ratio" if instrument.kind in (Kind.GAUGE, Kind.OBSERVABLE_GAUGE) else ""
        else:
            word = _UNIT_WORDS.get(unit, unit)
    word = _sanitize(word) if word else ""
    if word and not name.endswith(f"_{word}"):
        name = f"{name}_{word}"
    if instrument.kind.monotonic and not name.endswith("_total"):
        name = f"{name}_total"
    return name
