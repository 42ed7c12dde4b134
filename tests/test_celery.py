"""Celery under `obs run`, on a real Redis broker: workers with the prefork, threads, gevent and solo pools,
and beat. A task's span joins the trace of the code that enqueued it; each worker process reports runs by task
name and outcome (success, failure, retry), run time and queue wait, under its own ``service.instance.id``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from obs.agent.catalog import ERROR_GROUP_ATTRIBUTES, ERRORS

from examples.launch import ROOT
from tests.agent_run import stop_process_group
from tests.otlp_receiver import MetricPoint, OTLPReceiver, Span
from tests.servers import Redis

PRODUCER = """
from opentelemetry import trace
from examples import tasks

with trace.get_tracer("producer").start_as_current_span("enqueue orders"):
    results = [tasks.charge.delay(2) for _ in range(4)] + [tasks.charge.delay(3), tasks.reserve.delay(1)]
for result in results:
    try:
        print("result", result.get(timeout=30))
    except Exception as error:
        print("failed", type(error).__name__)
"""

CHARGE, RESERVE, TICK = "examples.tasks.charge", "examples.tasks.reserve", "examples.tasks.tick"


@dataclass(frozen=True)
class Run:
    worker_pid: int
    producer_output: str
    spans: list[Span]
    points: list[MetricPoint]

    def latest(self, name: str) -> list[MetricPoint]:
        """The newest point of each (process, attributes) series of ``name``: cumulative values."""
        newest: dict[tuple[object, ...], MetricPoint] = {}
        for point in self.points:
            if point.name == name:
                key = (point.resource.get("service.instance.id"), tuple(sorted(point.attributes.items())))
                newest[key] = point
        return list(newest.values())

    def total(self, metric: str, **attributes: str) -> float:
        wanted = {f"celery.task.{key}": value for key, value in attributes.items()}
        points = [point for point in self.latest(metric)
                  if all(point.attributes.get(key) == value for key, value in wanted.items())]
        return sum(point.count if point.kind == "histogram" else point.value for point in points)


def _environment(redis: Redis, receiver: OTLPReceiver, service: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EXAMPLES_BROKER_URL": redis.url(),
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }




def _run_pool(pool: str, redis: Redis, receiver: OTLPReceiver, folder: Path, beat: bool = False) -> Run:
    service = f"tasks-{pool}"
    environment = _environment(redis, receiver, service)
    obs = [sys.executable, "-m", "obs", "run", "--"]
    worker = subprocess.Popen(
        [*obs, sys.executable, "-m", "celery", "-A", "examples.tasks", "worker", "-P", pool, "-c", "2",
         "--loglevel", "warning", "-n", f"{pool}@%h"],
        env=environment, cwd=folder, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=(folder / f"worker-{pool}.log").open("wb"),
    )
    beat_process = None
    try:
        if beat:
            beat_process = subprocess.Popen(
                [*obs, sys.executable, "-m", "celery", "-A", "examples.tasks", "beat",
                 "--loglevel", "warning", "-s", str(folder / "beat-schedule")],
                env={**environment, "EXAMPLES_BEAT_SECONDS": "0.5", "OTEL_SERVICE_NAME": f"{service}-beat"},
                cwd=folder, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=(folder / "beat.log").open("wb"),
            )
        script = folder / "producer.py"
        script.write_text(textwrap.dedent(PRODUCER), encoding="utf-8")
        produced = subprocess.run(
            [*obs, sys.executable, str(script)], env={**environment, "OTEL_SERVICE_NAME": f"{service}-web"},
            cwd=folder, capture_output=True, text=True, timeout=90, check=False,
        )
        assert produced.returncode == 0, produced.stderr

        def settled() -> bool:
            run = _collect(worker.pid, produced.stdout, receiver, service)
            done = run.total("runs", name=CHARGE) >= 5 and run.total("runs", name=RESERVE) >= 2
            return done and (not beat or run.total("runs", name=TICK) >= 2)

        assert receiver.wait_for(settled, timeout=60), (folder / f"worker-{pool}.log").read_text()
    finally:
        if beat_process is not None:
            stop_process_group(beat_process)
        stop_process_group(worker)
    return _collect(worker.pid, produced.stdout, receiver, service)


def _collect(worker_pid: int, output: str, receiver: OTLPReceiver, service: str) -> Run:
    spans = [span for span in receiver.spans()
             if str(span.resource.get("service.name", "")).startswith(service)]
    points = [
        point for point in receiver.metric_points()
        if point.name.startswith("celery.task.") and point.resource.get("service.name") == service
    ]
    renamed = [
        MetricPoint(**{**point.__dict__, "name": point.name.removeprefix("celery.task.")}) for point in points
    ]
    return Run(worker_pid, output, spans, renamed)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def runs(redis: Redis, receiver: OTLPReceiver, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("celery")
    return {
        "prefork": _run_pool("prefork", redis, receiver, folder, beat=True),
        "threads": _run_pool("threads", redis, receiver, folder),
        "gevent": _run_pool("gevent", redis, receiver, folder),
        "solo": _run_pool("solo", redis, receiver, folder),
    }


POOLS = ["prefork", "threads", "gevent", "solo"]


@pytest.mark.parametrize("pool", POOLS)
def test_task_spans_join_the_trace_that_enqueued_them(pool: str, runs: dict[str, Run]) -> None:
    """Each task run's span shares the trace id of the producer's span around ``delay()``; the failing
    charge's run span is an error."""
    run = runs[pool]
    assert run.producer_output.count("result") == 5 and "failed ValueError" in run.producer_output
    enqueue = [span for span in run.spans if span.name == "enqueue orders"]
    assert len(enqueue) == 1
    trace_id = enqueue[0].trace_id
    worker_runs = [span for span in run.spans if span.name.startswith("run/") and span.trace_id == trace_id]
    names = sorted(span.name for span in worker_runs)
    assert names.count(f"run/{CHARGE}") == 5
    assert names.count(f"run/{RESERVE}") == 2  # the first attempt, then the retry
    assert [span for span in worker_runs if span.status_code == 2]


@pytest.mark.parametrize("pool", POOLS)
def test_runs_are_counted_per_task_and_outcome(pool: str, runs: dict[str, Run]) -> None:
    """Runs by task name and outcome: four charges succeed, one fails; reserve retries once then succeeds;
    run time is recorded for each run, the retry's too (it may start on another thread or greenlet before
    the run that asked for it has ended, under the same task id)."""
    run = runs[pool]
    assert run.total("runs", name=CHARGE, outcome="success") == 4
    assert run.total("runs", name=CHARGE, outcome="failure") == 1
    assert run.total("runs", name=RESERVE, outcome="retry") == 1
    assert run.total("runs", name=RESERVE, outcome="success") == 1
    assert run.total("duration", name=CHARGE) == 5
    assert run.total("duration", name=RESERVE, outcome="retry") == 1
    assert run.total("duration", name=RESERVE, outcome="success") == 1
    assert all(point.unit == "s" for point in run.latest("duration"))


@pytest.mark.parametrize("pool", POOLS)
def test_a_failed_task_is_one_error_group_under_its_name(
    pool: str, runs: dict[str, Run], receiver: OTLPReceiver
) -> None:
    """The charge that raised is counted once in the error groups (Celery also logs it), as its exception
    type, the task function that raised it and the task's name; retries are not failures, nor what
    OpenTelemetry itself logs (with threads and gevent pools, a retried task's span fails to detach its
    context and says so at ERROR)."""
    assert pool in runs
    groups: dict[tuple[str, ...], float] = {}
    for point in receiver.latest_points(ERRORS.name):
        if point.resource.get("service.name") == f"tasks-{pool}":
            key = tuple(str(point.attributes[name]) for name in ERROR_GROUP_ATTRIBUTES)
            groups[key] = groups.get(key, 0.0) + point.value
    assert groups == {("ValueError", CHARGE, CHARGE): 1}


@pytest.mark.parametrize("pool", POOLS)
def test_queue_wait_is_recorded_from_the_publish_header(pool: str, runs: dict[str, Run]) -> None:
    """Every run that started from a published message records its wait (enqueue to start), in seconds."""
    run = runs[pool]
    waits = [point for point in run.latest("queue_wait") if point.attributes["celery.task.name"] == CHARGE]
    assert sum(point.count for point in waits) == 5
    assert all(point.value >= 0 and point.unit == "s" for point in waits)


def test_each_prefork_worker_process_reports_under_its_own_instance_id(runs: dict[str, Run]) -> None:
    """Task metrics come from the pool's child processes, each with its own ``service.instance.id``: never
    the main worker process's, and never one id for two processes."""
    run = runs["prefork"]
    by_pid: dict[object, set[object]] = {}
    for point in run.points:
        by_pid.setdefault(point.resource["process.pid"], set()).add(point.resource["service.instance.id"])
    assert by_pid and all(len(ids) == 1 for ids in by_pid.values())
    assert len({next(iter(ids)) for ids in by_pid.values()}) == len(by_pid)
    parents = {point.resource.get("process.parent_pid") for point in run.points}
    assert run.worker_pid not in by_pid and parents


def test_beat_schedules_reach_the_worker_and_are_counted(runs: dict[str, Run]) -> None:
    """beat, under `obs run` too, publishes its scheduled task; the worker counts its runs."""
    run = runs["prefork"]
    assert run.total("runs", name=TICK, outcome="success") >= 2
    assert [span for span in run.spans if span.resource.get("service.name") == "tasks-prefork-beat"]


def test_obs_view_lists_tasks_with_their_queue_wait_from_local_files(
    redis: Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A threads-pool worker and the producer writing to local files (no collector): `obs view` lists the
    worker's tasks with runs, failures, run time and queue wait, the wait read from the files'
    ``celery.task.queue_wait`` series."""
    from obs.cli import main
    from obs.view.report import Options, read_report

    telemetry = tmp_path / "telemetry"
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "OBS_"))},
        "PYTHONPATH": str(ROOT), "EXAMPLES_BROKER_URL": redis.url(1), "OTEL_SERVICE_NAME": "tasks-files",
        "OTEL_TRACES_EXPORTER": "file", "OTEL_METRICS_EXPORTER": "file", "OTEL_LOGS_EXPORTER": "file",
        "OBS_TELEMETRY_DIR": str(telemetry), "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }
    obs = [sys.executable, "-m", "obs", "run", "--"]
    worker = subprocess.Popen(
        [*obs, sys.executable, "-m", "celery", "-A", "examples.tasks", "worker", "-P", "threads", "-c", "2",
         "--loglevel", "warning", "-n", "files@%h"],
        env=environment, cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("wb"),
    )
    try:
        script = tmp_path / "producer.py"
        script.write_text(textwrap.dedent(PRODUCER), encoding="utf-8")
        produced = subprocess.run([*obs, sys.executable, str(script)],
                                  env={**environment, "OTEL_SERVICE_NAME": "tasks-files-web"}, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=90, check=False)
        assert produced.returncode == 0, produced.stderr

        def waited() -> dict[str, tuple[float | None, ...]]:
            return read_report(telemetry, Options(service="tasks-files")).task_waits

        deadline = time.monotonic() + 60
        while not {CHARGE, RESERVE} <= waited().keys() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        stop_process_group(worker)
    assert main(["view", "--dir", str(telemetry), "--service", "tasks-files"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("  examples.")}
    assert lines[CHARGE][1:2] == ["5"] and lines[CHARGE][3] == "20%", text
    assert lines[RESERVE][1:2] == ["2"], text
    waits = read_report(telemetry, Options(service="tasks-files")).task_waits
    for task in (CHARGE, RESERVE):
        p50, p95 = waits[task][:2]
        assert p50 is not None and p95 is not None and 0 <= p50 <= p95 < 30
        assert lines[task][-4].startswith("~") and lines[task][-2].startswith("~"), text  # "~4.0 ms ~9.1 ms"
