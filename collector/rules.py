"""Prometheus alert rules for the app, derived from the telemetry catalog so that they query real series.

Three alerts, each scoped to the app's ``service_name``:

- ``ObsHighErrorRatio``: more than 5% of HTTP requests failed (5xx or an exception) for 5 minutes.
- ``ObsLatencyBudgetFastBurn`` / ``ObsLatencyBudgetSlowBurn``: the latency SLO (99% of requests faster than
  0.5 s) burns its error budget 14.4x over 1 h and 5 min, or 6x over 6 h and 30 min, the multi-window pairs of
  the SRE workbook: the long window proves it matters, the short one that it is still going on.
- ``ObsNewErrorGroup``: an error group (exception type, function, operation: obs.agent._errors) is met now
  that was not met in the day before; one alert per group, for 15 minutes.
- ``ObsNoTelemetry``: none of the app's series arrived for 10 minutes.
- ``ObsTaskFailureRatio``: more than 10% of a Celery task's runs failed over 10 minutes (per task name).
- ``ObsTaskQueueWait``: a Celery task's p95 wait between enqueue and start stayed above 60 s for 10 minutes
  (workers too few or stuck). Both stay quiet for an app without Celery: their series never exist.

The slow-request ratio per window and the 5xx ratio are recording rules, so that dashboards can show them
too. The 5xx ratio is 0 while requests come and none fails, and absent only when no request comes at all.
"""

from __future__ import annotations

from typing import Any, Final

from obs.agent.catalog import (
    ERROR_GROUP_ATTRIBUTES,
    ERRORS,
    HTTP_SERVER_DURATION,
    LATENCY_BUCKETS_SECONDS,
    TASK_QUEUE_WAIT,
    TASK_RUNS,
    label,
    series_names,
)

__all__ = [
    "BURN_WINDOWS",
    "ERROR_RATIO_THRESHOLD",
    "LATENCY_SLO_SECONDS",
    "LATENCY_SLO_TARGET",
    "RULES_PATH",
    "alert_rules",
]

RULES_PATH: Final = "prometheus/rules/obs-alerts.yaml"

ERROR_RATIO_THRESHOLD: Final = 0.05
LATENCY_SLO_SECONDS: Final = 0.5
LATENCY_SLO_TARGET: Final = 0.99
BURN_WINDOWS: Final[tuple[tuple[str, str, float, str, str], ...]] = (
    # (alert, severity, burn rate, long window, short window)
    ("ObsLatencyBudgetFastBurn", "page", 14.4, "1h", "5m"),
    ("ObsLatencyBudgetSlowBurn", "ticket", 6.0, "6h", "30m"),
)
NO_TELEMETRY_WINDOW: Final = "10m"
TASK_FAILURE_RATIO_THRESHOLD: Final = 0.10
TASK_QUEUE_WAIT_SECONDS: Final = 60.0
NEW_ERROR_LOOKBACK: Final = "1d"
NEW_ERROR_FOR: Final = "15m"
"""A group is new for this long after it is first met: the day before is looked at from that far back."""

if LATENCY_SLO_SECONDS not in LATENCY_BUCKETS_SECONDS:  # pragma: no cover - a guard for whoever edits these
    raise ValueError("LATENCY_SLO_SECONDS must be one of the histogram's bucket bounds")

_SERVICE = label("service.name")
_TASK = label("celery.task.name")
_OUTCOME = label("celery.task.outcome")
_FAILED = f'{label("error.type")}!=""'
"""A failed request, as the dashboards and ``obs view`` count it: ``error.type`` is set for a 5xx or an
exception, never for a 4xx (the client's mistake)."""


def _quote(text: str) -> str:
    """A PromQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(service: str, *matchers: str) -> str:
    return "{" + ", ".join((f"{_SERVICE}={_quote(service)}", *matchers)) + "}"


def _slow_ratio_record(window: str) -> str:
    return f"{_SERVICE}:http_server_slow_requests:ratio_rate{window}"


def _slow_ratio_expr(service: str, window: str) -> str:
    fast = HTTP_SERVER_DURATION.series("bucket") + _selector(service, f'le="{LATENCY_SLO_SECONDS:g}"')
    total = HTTP_SERVER_DURATION.series("count") + _selector(service)
    return (
        f"1 - (sum by ({_SERVICE}) (rate({fast}[{window}])) / sum by ({_SERVICE}) (rate({total}[{window}])))"
    )


ERROR_RATIO_RECORD: Final = f"{_SERVICE}:http_server_errors:ratio_rate5m"


def _error_ratio_expr(service: str) -> str:
    """The 5xx share of requests over 5 minutes; 0 (not absent) while requests come and none fails."""
    count = HTTP_SERVER_DURATION.series("count")
    errors = count + _selector(service, _FAILED)
    total = f"sum by ({_SERVICE}) (rate({count}{_selector(service)}[5m]))"
    return f"(sum by ({_SERVICE}) (rate({errors}[5m])) / {total}) or ({total} * 0)"


_GROUP = ", ".join([_SERVICE, *(label(attribute) for attribute in ERROR_GROUP_ATTRIBUTES)])


def _new_error_group_expr(service: str) -> str:
    """Groups met now (their counter exists) that no process of the service met in the day before."""
    errors = ERRORS.prometheus + _selector(service)
    return (
        f"group by ({_GROUP}) ({errors})\nunless\n"
        f"group by ({_GROUP}) (max_over_time({errors}[{NEW_ERROR_LOOKBACK}] offset {NEW_ERROR_FOR}))\n"
    )


def _task_alerts(service: str) -> list[dict[str, Any]]:
    by = f"{_SERVICE}, {_TASK}"
    runs = TASK_RUNS.prometheus
    failure = _selector(service, f'{_OUTCOME}="failure"')
    failed = f"sum by ({by}) (rate({runs}{failure}[10m]))"
    total = f"sum by ({by}) (rate({runs}{_selector(service)}[10m]))"
    wait = (
        f"histogram_quantile(0.95, sum by (le, {by}) "
        f"(rate({TASK_QUEUE_WAIT.series('bucket')}{_selector(service)}[10m])))"
    )
    return [
        {
            "alert": "ObsTaskFailureRatio",
            "expr": f"(({failed} / {total}) or ({total} * 0)) > {TASK_FAILURE_RATIO_THRESHOLD:g}",
            "for": "10m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": f"{service}: {{{{ $value | humanizePercentage }}}} of "
                f"{{{{ $labels.{_TASK} }}}} runs fail",
                "description": f"Over {TASK_FAILURE_RATIO_THRESHOLD:.0%} of the task's runs failed "
                "for 10 minutes.",
            },
        },
        {
            "alert": "ObsTaskQueueWait",
            "expr": f"{wait} > {TASK_QUEUE_WAIT_SECONDS:g}",
            "for": "10m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": f"{service}: {{{{ $labels.{_TASK} }}}} waits {{{{ $value | humanizeDuration }}}} "
                "in the queue",
                "description": f"The task's p95 wait between enqueue and start stayed over "
                f"{TASK_QUEUE_WAIT_SECONDS:g} s for 10 minutes: too few workers, or stuck ones.",
            },
        },
    ]


def _burn_alert(
    service: str, alert: str, severity: str, rate: float, long: str, short: str
) -> dict[str, Any]:
    budget = 1 - LATENCY_SLO_TARGET
    threshold = f"{rate * budget:.6g}"
    selector = _selector(service)
    return {
        "alert": alert,
        "expr": f"{_slow_ratio_record(long)}{selector} > {threshold}\n"
        f"and\n{_slow_ratio_record(short)}{selector} > {threshold}\n",
        "for": "2m" if severity == "page" else "15m",
        "labels": {"severity": severity},
        "annotations": {
            "summary": f"{service}: latency SLO budget burning {rate:g}x too fast",
            "description": (
                f"More than {rate * budget * 100:.3g}% of requests took over {LATENCY_SLO_SECONDS:g} s "
                f"in the last "
                f"{long} and {short} (SLO: {LATENCY_SLO_TARGET:.0%} under {LATENCY_SLO_SECONDS:g} s). "
                "Slow share now: {{ $value | humanizePercentage }}."
            ),
        },
    }


def alert_rules(service: str) -> dict[str, Any]:
    """The rule file for one service, as a mapping ready to be written as YAML."""
    windows = sorted(
        {window for *_, long, short in BURN_WINDOWS for window in (long, short)},
        key=lambda w: (w[-1] == "h", int(w[:-1])),
    )
    recording = [
        {"record": _slow_ratio_record(window), "expr": _slow_ratio_expr(service, window)}
        for window in windows
    ]
    recording.append({"record": ERROR_RATIO_RECORD, "expr": _error_ratio_expr(service)})
    names = "|".join(series_names())
    alerts: list[dict[str, Any]] = [
        {
            "alert": "ObsHighErrorRatio",
            "expr": f"{ERROR_RATIO_RECORD}{_selector(service)} > {ERROR_RATIO_THRESHOLD:g}",
            "for": "5m",
            "labels": {"severity": "page"},
            "annotations": {
                "summary": f"{service}: {{{{ $value | humanizePercentage }}}} of HTTP requests fail",
                "description": (
                    f"Over {ERROR_RATIO_THRESHOLD:.0%} of requests failed (5xx or an exception) "
                    "for 5 minutes."
                ),
            },
        },
        *(_burn_alert(service, *window) for window in BURN_WINDOWS),
        {
            "alert": "ObsNewErrorGroup",
            "expr": _new_error_group_expr(service),
            "for": "0m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": f"{service}: a new kind of error: {{{{ $labels.exception_type }}}} in "
                "{{ $labels.code_function_name }}",
                "description": "First met in the last "
                f"{NEW_ERROR_FOR}, not in the {NEW_ERROR_LOOKBACK} before: {{{{ $labels.exception_type }}}} "
                "raised in {{ $labels.code_function_name }} during "
                "'{{ $labels.obs_error_operation }}'. See the Errors dashboard.",
            },
        },
        {
            "alert": "ObsNoTelemetry",
            "expr": f'absent_over_time({{__name__=~"{names}", {_SERVICE}={_quote(service)}}}'
            f"[{NO_TELEMETRY_WINDOW}])",
            "for": "0m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": f"{service}: no telemetry for {NO_TELEMETRY_WINDOW}",
                "description": "No metric from the app reached Prometheus: is it running, and does it export "
                "to the collector (OTEL_EXPORTER_OTLP_ENDPOINT)?",
            },
        },
        *_task_alerts(service),
    ]
    return {
        "groups": [
            {"name": f"obs-{service}-recording", "rules": recording},
            {"name": f"obs-{service}-alerts", "rules": alerts},
        ]
    }
