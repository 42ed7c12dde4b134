"""Tasks: Celery task runs, failures, retries, run time and queue wait, per task name and worker process.

Generated when the project's instrumentations name ``celery`` (``obs init`` adds it when it finds Celery):
the agent records these metrics in every worker process (each with its own ``service.instance.id``). This
file is yours to edit: `obs dashboards build` turns it into ../tasks.json.
"""

from __future__ import annotations

from grafanalib.core import Dashboard
from obs.agent.catalog import TASK_DURATION, TASK_QUEUE_WAIT, TASK_RUNS
from obs.agent.settings import Settings
from obs.dashboards import kit
from obs.dashboards.panels import prometheus, timeseries
from obs.dashboards.promql import Match, Metric, legend, or_zero

TASK, OUTCOME, INSTANCE = "celery.task.name", "celery.task.outcome", "service.instance.id"
FAILED = Match(OUTCOME, "=", "failure")
RETRIED = Match(OUTCOME, "=", "retry")


def _runs() -> kit.Row:
    runs = Metric(TASK_RUNS)
    return kit.Row(
        "Runs",
        [
            timeseries("Runs by task", prometheus(runs.rate(by=[TASK]), legend(TASK)), unit="ops", width=8),
            timeseries(
                "Failure ratio by task",
                prometheus(runs.ratio(FAILED, by=[TASK]), legend(TASK)),
                unit="percentunit",
                width=8,
            ),
            timeseries(
                "Retries by task",
                prometheus(or_zero(runs.filtered(RETRIED).rate(by=[TASK]), runs.rate(by=[TASK])),
                           legend(TASK)),
                unit="ops",
                width=8,
            ),
        ],
    )


def _timing() -> kit.Row:
    duration, wait = Metric(TASK_DURATION), Metric(TASK_QUEUE_WAIT)
    return kit.Row(
        "Timing",
        [
            timeseries(
                "Run time p95 by task", prometheus(duration.quantile(0.95, by=[TASK]), legend(TASK)),
                unit="s", width=8,
            ),
            timeseries(
                "Queue wait p95 by task", prometheus(wait.quantile(0.95, by=[TASK]), legend(TASK)),
                unit="s", width=8,
            ),
            timeseries(
                "Runs by worker process",
                prometheus(Metric(TASK_RUNS).rate(by=[INSTANCE]), legend(INSTANCE)),
                unit="ops",
                width=8,
            ),
        ],
    )


def dashboard(settings: Settings) -> Dashboard | None:
    if "celery" not in settings.instrumentations:
        return None  # no Celery found in the project: no dashboard of empty panels
    return kit.dashboard(
        "tasks",
        "Tasks",
        settings,
        [_runs(), _timing()],
        description="Celery tasks: runs, failures, retries, run time and the wait between enqueue and start.",
    )
