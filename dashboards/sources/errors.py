"""Errors: what fails, where, how often and since when, by error group; each group a click from its traces
and its log lines.

A group is an exception type, the app's own function where it was raised (the innermost frame of the
project's code, not of a library) and the operation it happened in (``METHOD route``, a task, or nothing
for an exception logged outside both): obs's agent counts them as they happen. Pick a type in the table (or
the `Exception type` box) to see its failed traces (Tempo) and log lines (Loki) below. This file is yours to
edit: `obs dashboards build` turns it into ../errors.json.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.catalog import ERROR_GROUP_ATTRIBUTES, ERRORS, ERRORS_FIRST_SEEN, ERRORS_LAST_SEEN, label
from obs.agent.settings import Settings
from obs.dashboards import kit, logql, traceql
from obs.dashboards.panels import (
    explore_trace,
    link,
    logs,
    loki,
    prometheus,
    stat,
    table,
    tempo,
    timeseries,
    traces,
)
from obs.dashboards.promql import Metric, legend, or_zero, sending
from obs.dashboards.variables import label_values_variable

TYPE, FUNCTION, OPERATION = ERROR_GROUP_ATTRIBUTES
GROUP = list(ERROR_GROUP_ATTRIBUTES)
TOP = 10


def _by_group(labels: list[str]) -> str:
    return ", ".join(label(attribute) for attribute in labels)


def dashboard(settings: Settings) -> Dashboard:
    errors = Metric(ERRORS)
    first_seen, last_seen = Metric(ERRORS_FIRST_SEEN), Metric(ERRORS_LAST_SEEN)
    groups = _by_group(GROUP)
    to_overview = link("Service overview", "overview")
    glance = kit.Row(
        "At a glance",
        [
            stat("Errors/s", prometheus(errors.rate_or_zero()), unit="ops", width=8,
                 thresholds=((0.001, "red"),), links=[to_overview],
                 description="Failures per second, all groups: 0 when nothing fails."),
            stat("Error groups", prometheus(or_zero(f"count(group by ({groups}) ({errors.selector()}))",
                                                    sending())),
                 unit="short", width=8, thresholds=((1, "orange"),),
                 description="Kinds of failure met by the running processes."),
            stat("Errors in range", prometheus(or_zero(errors.increase("$__range"), sending()), instant=True),
                 unit="short", width=8, thresholds=((1, "red"),),
                 description="Failures over the dashboard's time range."),
        ],
    )
    over_time = kit.Row(
        "Over time",
        [
            timeseries(
                f"Top {TOP} groups",
                prometheus(or_zero(f"topk({TOP}, {errors.rate(by=GROUP)})", sending()),
                           legend(TYPE) + " in " + legend(FUNCTION) + " · " + legend(OPERATION)),
                unit="ops", bars=True, stack=True, width=24,
                description="Failures per second of the groups that fail most; 0 when nothing fails.",
            ),
        ],
    )
    group_table = kit.Row(
        "Groups",
        [
            table(
                "Error groups",
                prometheus(errors.increase("$__range", by=GROUP), instant=True, table=True),
                prometheus(f"min by ({groups}) (min_over_time({first_seen.selector()}[$__range])) * 1000",
                           instant=True, table=True),
                prometheus(f"topk by ({groups}) (1, max by ({groups}, trace_id) "
                           f"(max_over_time({last_seen.selector()}[$__range]))) * 1000",
                           instant=True, table=True),
                columns={
                    label(TYPE): ("Type", "string"),
                    label(FUNCTION): ("Where", "string"),
                    label(OPERATION): ("Operation", "string"),
                    "Value #A": ("Count", "short"),
                    "Value #B": ("First seen", "dateTimeAsIso"),
                    "Value #C": ("Last seen", "dateTimeAsIso"),
                    "trace_id": ("Sample trace", "string"),
                },
                sort_by="Count",
                cell_links={
                    "Sample trace": [explore_trace()],
                    "Type": [{"title": "Traces and logs of this type",
                              "url": "/d/obs-errors?${__url_time_range}&var-service=${service}"
                                     "&var-environment=${environment}&var-exception_type=${__value.raw}"}],
                },
                description="Count over the time range; first and last seen by any process (first seen "
                "is per process run); a recent failure's trace.",
                height=10,
            ),
        ],
    )
    chosen = '"$exception_type"'
    evidence = kit.Row(
        "Traces and logs of the chosen type",
        [
            traces(
                "Failed traces",
                tempo(traceql.spans("status = error", f"event.exception.type =~ {chosen}"), limit=50),
                sort_by="Start time",
                description="Spans that ended in error with an exception of the chosen type, newest first.",
            ),
            logs(
                "Log lines",
                loki(logql.stream(f"| {label(TYPE)}=~{chosen}"), max_lines=200),
                description="Log lines that carry an exception of the chosen type (logged with "
                "logger.exception, or by the framework), each with its trace id.",
                width=12,
            ),
        ],
    )
    return kit.dashboard(
        "errors",
        "Errors",
        settings,
        [glance, over_time, group_table, evidence],
        description="Failures grouped by exception type, the app's function and the operation.",
        variables=[
            label_values_variable("exception_type", "Exception type",
                                  errors.selector(), label(TYPE), all_value=".+"),
        ],
    )
