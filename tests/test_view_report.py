"""Reading a telemetry folder into what `obs view` shows (obs.view.report), from files the real SDK made."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from obs.view import Options, read_report
from obs.view.routes import RouteKey
from tests.telemetry_files import Child, Writer

SECOND = 1_000_000_000
ITEM = "/items/<int:item_id>"


@pytest.fixture
def start_ns() -> int:
    return time.time_ns() - 120 * SECOND


def _two_workers(directory: Path, start_ns: int) -> dict[str, str]:
    """Two gunicorn-like workers of one service: 6 item reads, 2 failures, a slow upstream call, one 404."""
    ids: dict[str, str] = {}
    first, second = Writer("shop", "worker-1"), Writer("shop", "worker-2")
    for index in range(3):
        for writer in (first, second):
            writer.request(ITEM, 200, 0.010 + index * 0.010, start_ns + index * SECOND, log=f"item {index}")
    ids["slow"] = first.request(
        f"{ITEM}/stock", 200, 0.080, start_ns + 4 * SECOND,
        children=[Child("SELECT", 0.001, 0.002, attributes={"db.system.name": "sqlite"}),
                  Child("GET", 0.004, 0.070, attributes={"http.response.status_code": 200})],
    )
    ids["fail-early"] = first.request("/fail", 500, 0.003, start_ns + 5 * SECOND,
                                      exception=RuntimeError("boom"))
    ids["fail-late"] = second.request("/fail", 500, 0.004, start_ns + 6 * SECOND,
                                      exception=RuntimeError("bang"))
    second.request("/items/<int:item_id>", 404, 0.002, start_ns + 7 * SECOND)
    for writer in (first, second):
        writer.flush(directory)
        writer.close()
    return ids


def test_routes_sum_the_workers_series_and_count_only_5xx_as_errors(tmp_path: Path, start_ns: int) -> None:
    """Each route's requests add up over both workers' cumulative series; 404s are requests but not errors;
    every request was traced, so the percentiles are exact (from the spans)."""
    _two_workers(tmp_path, start_ns)
    report = read_report(tmp_path, Options())
    routes = {stats.key: stats for stats in report.routes}
    assert report.routes_from_metrics
    item = routes[RouteKey(ITEM, "GET")]
    assert (item.requests, item.errors, item.exact) == (7, 0, True)
    assert item.percentiles[0] == pytest.approx(0.020)
    fail = routes[RouteKey("/fail", "GET")]
    assert (fail.requests, fail.errors, fail.error_ratio) == (2, 2, 1.0)
    assert report.routes[0].key.route == ITEM  # the most requested first
    assert {origin.instance for origin in report.origins} == {"worker-1", "worker-2"}


def test_percentiles_come_from_the_histogram_when_spans_are_missing(tmp_path: Path, start_ns: int) -> None:
    """Requests without spans (sampled out) still count; the route's percentiles are then interpolated from
    the histogram's buckets and marked as not exact."""
    writer = Writer()
    for index in range(4):
        writer.request("/get", 200, 0.006 + index * 0.001, start_ns + index * SECOND, traced=index == 0)
    writer.flush(tmp_path)
    writer.close()
    (stats,) = read_report(tmp_path, Options()).routes
    assert (stats.requests, stats.exact) == (4, False)
    p50 = stats.percentiles[0]
    assert p50 is not None and 0.006 <= p50 <= 0.009


def test_routes_come_from_spans_when_no_metrics_were_written(tmp_path: Path, start_ns: int) -> None:
    """With only traces on disk, the server spans give the counts, errors and exact percentiles."""
    _two_workers(tmp_path, start_ns)
    (tmp_path / "metrics.jsonl").unlink()
    report = read_report(tmp_path, Options())
    assert not report.routes_from_metrics
    routes = {stats.key.route: stats for stats in report.routes}
    assert (routes[ITEM].requests, routes["/fail"].errors) == (7, 2)


def test_since_subtracts_the_cumulative_point_before_the_window(tmp_path: Path, start_ns: int) -> None:
    """A cumulative series read with --since counts only what was added after the cutoff."""
    writer = Writer()
    writer.request("/get", 200, 0.001, start_ns, traced=False)
    writer.request("/get", 200, 0.001, start_ns, traced=False)
    writer.flush(tmp_path)
    cutoff = time.time_ns()
    time.sleep(0.01)
    writer.request("/get", 200, 0.001, time.time_ns(), traced=False)
    writer.flush(tmp_path)
    writer.close()
    assert read_report(tmp_path, Options()).routes[0].requests == 3
    assert read_report(tmp_path, Options(since_ns=cutoff)).routes[0].requests == 1


def test_slowest_and_failed_traces_come_with_their_span_trees(tmp_path: Path, start_ns: int) -> None:
    """The slowest trace is the upstream call with its two children in start order; failed traces are the
    5xx ones, newest first, carrying the exception."""
    ids = _two_workers(tmp_path, start_ns)
    report = read_report(tmp_path, Options(traces=2))
    assert report.slowest[0].summary.trace_id == ids["slow"]
    (root,) = report.slowest[0].roots
    assert root.span.name == f"GET {ITEM}/stock"
    assert [child.span.name for child in root.children] == ["SELECT", "GET"]
    assert [trace.summary.trace_id for trace in report.failed] == [ids["fail-late"], ids["fail-early"]]
    assert report.failed[0].roots[0].span.events[0].attributes["exception.message"] == "bang"
    assert (report.trace_count, report.failed_count) == (10, 2)


def test_recent_logs_are_the_newest_in_time_order_with_trace_ids(tmp_path: Path, start_ns: int) -> None:
    """Logs are limited to the newest N, shown oldest first, each with the trace it was written in."""
    _two_workers(tmp_path, start_ns)
    report = read_report(tmp_path, Options(logs=2))
    assert report.log_count == 6
    assert [entry.body for entry in report.logs] == ["item 2", "item 2"]
    traced = {trace.summary.trace_id for trace in read_report(tmp_path, Options(traces=20)).slowest}
    assert all(entry.trace_id in traced for entry in report.logs)
    assert report.logs[0].time_ns <= report.logs[1].time_ns


def test_service_filter_keeps_only_that_service(tmp_path: Path, start_ns: int) -> None:
    """--service shows one service's requests, traces and logs; an unknown name shows nothing."""
    _two_workers(tmp_path, start_ns)
    other = Writer("billing")
    other.request("/invoices", 200, 0.005, start_ns, log="invoice sent")
    other.flush(tmp_path)
    other.close()
    billing = read_report(tmp_path, Options(service="billing"))
    assert [stats.key.route for stats in billing.routes] == ["/invoices"]
    assert [entry.body for entry in billing.logs] == ["invoice sent"]
    assert read_report(tmp_path, Options(service="nope")).empty


def test_unreadable_lines_are_skipped_and_counted_once(tmp_path: Path, start_ns: int) -> None:
    """A corrupt line is reported (file and line number) and the rest still read; a last line without its
    newline is one still being written, and is skipped silently."""
    _two_workers(tmp_path, start_ns)
    with (tmp_path / "traces.jsonl").open("a") as handle:
        handle.write("{garbage\n")
        handle.write('{"resourceSpans": [')
    report = read_report(tmp_path, Options())
    assert report.trace_count == 10
    assert [(s.path.name, s.line) for s in report.skipped] == [("traces.jsonl", 3)]


def test_missing_folder_is_an_empty_report(tmp_path: Path) -> None:
    """No folder at all reads as no telemetry (the command turns that into one line of advice)."""
    assert read_report(tmp_path / "absent", Options()).empty


def test_rotated_files_are_read_too(tmp_path: Path, start_ns: int) -> None:
    """Telemetry moved aside by a size rotation (the agent's ``traces.jsonl.1``, the Collector's
    ``traces-<time>.jsonl``) still counts, next to the current file."""
    _two_workers(tmp_path, start_ns)
    for signal in ("traces", "logs"):
        (tmp_path / f"{signal}.jsonl").rename(tmp_path / f"{signal}.jsonl.1")
    late = Writer("shop", "worker-3")
    late.request("/get", 200, 0.001, start_ns + 9 * SECOND, log="late")
    late.flush(tmp_path)
    late.close()
    (tmp_path / "traces.jsonl").rename(tmp_path / "traces-2026-01-01T00-00-00.000.jsonl")
    report = read_report(tmp_path, Options())
    assert report.trace_count == 11
    assert report.log_count == 7


def test_trace_trees_are_found_when_ids_are_base64(tmp_path: Path, start_ns: int) -> None:
    """Files written with protobuf's plain JSON mapping (base64 ids) give the same traces and trees."""
    ids = _two_workers(tmp_path, start_ns)
    path = tmp_path / "traces.jsonl"
    lines = [_ids_to_base64(json.loads(line)) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = read_report(tmp_path, Options(traces=1))
    assert report.slowest[0].summary.trace_id == ids["slow"]
    assert [child.span.name for child in report.slowest[0].roots[0].children] == ["SELECT", "GET"]


def _ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: base64.b64encode(bytes.fromhex(value)).decode() if key.endswith(("traceId", "panId"))
                else _ids_to_base64(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    return node


def test_tasks_are_listed_beside_routes_with_runs_failures_and_run_time(tmp_path: Path) -> None:
    """Two worker processes' ``celery.task.duration`` series: runs summed per task name, failures counted from
    the failure outcome only (a retry is a run, not a failure), run-time percentiles from the buckets; the
    rendered view shows them in a Tasks section."""
    from obs.view.render import Style, render

    first, second = Writer("shop", "worker-1"), Writer("shop", "worker-2")
    for writer in (first, second):
        for _ in range(3):
            writer.task("shop.charge", "success", 0.02)
        writer.task("shop.charge", "failure", 0.01)
        writer.task("shop.reserve", "retry", 0.3)
        writer.flush(tmp_path)
        writer.close()
    report = read_report(tmp_path, Options())
    tasks = {stats.key.route: stats for stats in report.tasks}
    assert (tasks["shop.charge"].requests, tasks["shop.charge"].errors) == (8, 2)
    assert (tasks["shop.reserve"].requests, tasks["shop.reserve"].errors) == (2, 0)
    p50 = tasks["shop.reserve"].percentiles[0]
    assert p50 is not None and 0.25 <= p50 <= 0.5
    assert report.routes == [] and not report.empty
    text = render(report, Style(width=120, unicode=False))
    assert "Tasks  (runs from the celery.task.duration histogram" in text
    line = next(line for line in text.splitlines() if line.strip().startswith("shop.charge"))
    assert line.split()[1] == "8" and "25%" in line
    assert line.split()[-2:] == ["-", "-"]  # no queue wait recorded


def test_tasks_show_how_long_they_waited_in_the_queue(tmp_path: Path) -> None:
    """The workers' ``celery.task.queue_wait`` series (publish to start), summed per task name over the
    processes, give each task's p50 and p95 wait within the histogram's buckets, beside its run time."""
    from obs.view.render import Style, duration, render

    first, second = Writer("shop", "worker-1"), Writer("shop", "worker-2")
    for writer in (first, second):
        for _ in range(9):
            writer.task("shop.charge", "success", 0.02, waited=0.004)
        writer.task("shop.charge", "success", 0.02, waited=2.0)
        writer.task("shop.reserve", "success", 0.3, waited=0.3)
        writer.flush(tmp_path)
        writer.close()
    report = read_report(tmp_path, Options())
    p50, p95, _p99 = report.task_waits["shop.charge"]
    assert p50 is not None and 0.0025 <= p50 <= 0.005
    assert p95 is not None and 1.0 <= p95 <= 2.5
    reserve = report.task_waits["shop.reserve"][0]
    assert reserve is not None and 0.25 <= reserve <= 0.5
    text = render(report, Style(width=140, unicode=False))
    head = next(line for line in text.splitlines() if line.strip().startswith("task "))
    assert head.split()[-4:] == ["wait", "p50", "wait", "p95"]
    line = next(line for line in text.splitlines() if line.strip().startswith("shop.charge"))
    assert line.split()[1] == "20" and " ".join(line.split()).endswith(f"~{duration(p50)} ~{duration(p95)}")


def test_a_4xx_marked_as_an_error_is_not_a_failed_trace(tmp_path: Path, start_ns: int) -> None:
    """A 404 server span that an instrumentation marked as an error (Django's contrib middleware does for
    Http404) is not listed among the failed traces: a failure is a 5xx or an exception without a 4xx answer,
    as the agent, the dashboards and the alert rules count it."""
    writer = Writer("shop", "worker-1")
    writer.request("items/<str:name>/", 404, 0.002, start_ns, exception=LookupError("No Item matches"))
    failed = writer.request("boom/", 500, 0.003, start_ns + SECOND, exception=RuntimeError("boom"))
    writer.flush(tmp_path)
    writer.close()
    report = read_report(tmp_path, Options())
    assert [trace.summary.trace_id for trace in report.failed] == [failed]
    assert report.failed_count == 1
