"""Errors grouped end to end: an app that fails in several ways (tests/apps/errors_app.py) runs under
`obs run -- gunicorn -w 2` and takes a fixed mix of requests. Its error groups (exception type, the app's
own function, the operation) and their counts arrive over real OTLP, show in `obs view` from the local files,
and answer the Errors dashboard's queries in VictoriaMetrics; an app that never fails reads 0 on every error
panel, and a service that sends nothing reads "No data" on all of them.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from obs.agent.catalog import ERRORS, ERRORS_FIRST_SEEN, ERRORS_LAST_SEEN
from obs.agent.settings import load_settings
from obs.collector.rules import alert_rules
from obs.dashboards import Query, queries, render

from examples.launch import ROOT, free_port, wait_until_answers
from obs.cli import main
from tests.agent_run import clean_environment, stop_process_group
from tests.grafana_vars import substitute
from tests.otlp_match import logql_select, traceql_select
from tests.otlp_receiver import OTLPReceiver
from tests.promql import PromQL, start_promql

APP = "tests.apps.errors_app"
TRAFFIC = {"/pay": 4, "/lookup": 3, "/parse": 2, "/handled": 2, "/handled-loguru": 1, "/ok": 6}
"""Requests sent to the failing app, by path (all GET)."""
EXPECTED = {
    (f"{APP}.PaymentDeclined", f"{APP}.charge", "GET /pay"): 4,
    ("KeyError", f"{APP}.lookup", "GET /lookup"): 3,
    ("json.decoder.JSONDecodeError", f"{APP}.parse", "GET /parse"): 2,  # raised inside flask.json and json
    ("ValueError", f"{APP}.handled", "GET /handled"): 2,  # log.exception, request answered 200
    ("ZeroDivisionError", f"{APP}.handled_loguru", "GET /handled-loguru"): 1,  # loguru's logger.exception
}
"""The groups those requests make: (type, where, operation) -> count. /ok makes none."""
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
UVICORN = str(Path(sys.executable).parent / "uvicorn")
GROUP_LABELS = ("exception_type", "code_function_name", "obs_error_operation")


def _environment(service: str, **extra: str) -> dict[str, str]:
    return clean_environment({"PYTHONPATH": str(ROOT), "OTEL_SERVICE_NAME": service,
                              "OTEL_METRIC_EXPORT_INTERVAL": "500", **extra})


def _gunicorn(port: int) -> list[str]:
    return [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", f"{APP}:app"]


@contextmanager
def _serving(workdir: Path, environment: Mapping[str, str], server: Any = _gunicorn) -> Iterator[str]:
    """The app under `obs run` (by default with two gunicorn workers); stopped (SIGTERM, so the agent
    flushes) on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "obs", "run", "--", *server(port)]
    with (workdir / "app.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=dict(environment), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/ok", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process_group(process, timeout=20)


def _send(url: str, traffic: Mapping[str, int]) -> None:
    for path, times in traffic.items():
        for _ in range(times):
            try:
                with urllib.request.urlopen(url + path, timeout=10) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                assert error.code == 500, (path, error.code)


def _run(workdir: Path, environment: Mapping[str, str], traffic: Mapping[str, int] = TRAFFIC,
         server: Any = _gunicorn) -> None:
    with _serving(workdir, environment, server) as url:
        _send(url, traffic)


# -- over OTLP ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    counts: dict[tuple[str, str, str], float]
    samples: dict[tuple[str, str, str], str]
    processes: set[str]
    trace_ids: set[str]
    points: int


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> Received:
    with OTLPReceiver() as receiver:
        service = f"errors-{uuid.uuid4().hex[:8]}"
        _run(tmp_path_factory.mktemp("otlp"),
             _environment(service, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint))
        counts = _counts(receiver)
        samples = {_key(point.attributes): str(point.attributes.get("trace_id", ""))
                   for point in receiver.latest_points(ERRORS_LAST_SEEN.name)}
        trace_ids = {span.trace_id for span in receiver.spans()}
        trace_ids |= {record.trace_id for record in receiver.logs() if record.trace_id}
        processes = {str(p.resource.get("service.instance.id")) for p in receiver.metric_points(ERRORS.name)}
        return Received(counts, samples, processes, trace_ids,
                        len(receiver.metric_points(ERRORS_FIRST_SEEN.name)))


def _counts(receiver: OTLPReceiver) -> dict[tuple[str, str, str], float]:
    """Each group's count, summed over the processes that sent it."""
    counts: dict[tuple[str, str, str], float] = {}
    for point in receiver.latest_points(ERRORS.name):
        key = _key(point.attributes)
        counts[key] = counts.get(key, 0.0) + point.value
    return counts


def _key(attributes: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(attributes.get("exception.type")), str(attributes.get("code.function.name")),
            str(attributes.get("obs.error.operation")))


def test_groups_and_counts_arrive_over_otlp(received: Received) -> None:
    """Summed over the two workers, each kind of failure is one group with exactly the failures sent: the
    library's exception under the view that called the library, handled-and-logged ones under the
    function that logged them, an unhandled one counted once although Flask logs it too."""
    assert received.counts == EXPECTED
    assert received.points > 0


def test_each_group_keeps_a_sample_trace_that_was_sent(received: Received) -> None:
    """Every group's last_seen gauge names a recent failure's trace id, and that trace reached the
    receiver (as a span or a log record), so the sample can be looked up."""
    assert set(received.samples) == set(EXPECTED)
    for key, trace_id in received.samples.items():
        assert len(trace_id) == 32 and trace_id in received.trace_ids, key


# -- another instrumentation's requests, in traces the sampler dropped --------------------------------------

ASGI_APP = "tests.apps.errors_asgi"
ASGI_TRAFFIC = {"/pay": 4, "/lookup": 3, "/handled": 2, "/ok": 3}
ASGI_EXPECTED = {
    (f"{ASGI_APP}.PaymentDeclined", f"{ASGI_APP}.charge", "GET /pay"): 4,
    ("KeyError", f"{ASGI_APP}.lookup", "GET /lookup"): 3,
    ("ValueError", f"{ASGI_APP}.handled", "GET /handled"): 2,
}


def _uvicorn(port: int) -> list[str]:
    return [UVICORN, "--host", "127.0.0.1", "--port", str(port), f"{ASGI_APP}:app"]


CONTRIB_APPS = {"flask-gunicorn": (_gunicorn, TRAFFIC, EXPECTED),
                "fastapi-uvicorn": (_uvicorn, ASGI_TRAFFIC, ASGI_EXPECTED)}
UNSAMPLED = {"always_off": {"OTEL_TRACES_SAMPLER": "always_off"},
             "ratio-0": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}}


@pytest.mark.parametrize("sampler", sorted(UNSAMPLED))
@pytest.mark.parametrize("app", sorted(CONTRIB_APPS))
def test_contrib_failures_are_counted_once_in_unsampled_traces(
    tmp_path: Path, app: str, sampler: str
) -> None:
    """Flask's and FastAPI's OpenTelemetry instrumentations (``OBS_SERVER_MIDDLEWARE=contrib``) with a sampler
    that keeps no trace: each failure sent is counted once in its group, as with obs's middleware: the
    exception Flask logs inside the request's span, the one uvicorn logs after the ASGI span ended, and the
    handled ones. Only the failed requests come out as spans, from the contrib instrumentation."""
    server, traffic, expected = CONTRIB_APPS[app]
    with OTLPReceiver() as receiver:
        environment = _environment(f"contrib-{uuid.uuid4().hex[:8]}", OBS_SERVER_MIDDLEWARE="contrib",
                                   OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, **UNSAMPLED[sampler])
        answered_500 = {operation for (_, _, operation) in expected if "/handled" not in operation}
        with _serving(tmp_path, environment, server) as url:
            _send(url, traffic)
            receiver.wait_for(lambda: _counts(receiver) == expected
                              and len(receiver.spans()) == sum(traffic[name[4:]] for name in answered_500))
        assert _counts(receiver) == expected
        spans = receiver.spans()
        assert {span.name for span in spans} == answered_500
        assert {span.scope for span in spans} == {f"opentelemetry.instrumentation.{app.split('-')[0]}"}


# -- from the local files, in obs view ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def telemetry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("files")
    files = {"OTEL_TRACES_EXPORTER": "file", "OTEL_METRICS_EXPORTER": "file", "OTEL_LOGS_EXPORTER": "file"}
    _run(workdir, _environment(f"errors-{uuid.uuid4().hex[:8]}", **files))
    return workdir / ".obs" / "telemetry"


def _errors_section(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("Errors  ("))
    end = lines.index("", start)
    return lines[start:end]


def test_view_lists_the_groups_by_count(telemetry_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`obs view` opens with the Errors section: one line per group, most frequent first, with its count,
    type, where and operation, then its sample trace and message; 12 failures in 5 groups."""
    assert main(["view", "--dir", str(telemetry_dir)]) == 0
    section = _errors_section(capsys.readouterr().out)
    assert section[0] == "Errors  (5 groups, 12 failures)"
    rows = [line.split() for line in section[2:-1:2]]
    found = {(row[1], row[2], f"{row[3]} {row[4]}"): int(row[0]) for row in rows}
    assert found == EXPECTED
    assert [int(row[0]) for row in rows] == sorted(found.values(), reverse=True)
    samples = [line.split() for line in section[3:-1:2]]
    assert all(sample[0] == "trace" and len(sample[1]) == 32 for sample in samples)


def test_view_scrubs_the_message_and_looks_up_the_sample(
    telemetry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The payment group's message keeps its text but not the database password, and its sample trace id,
    given to `obs view --trace`, shows that very request failing with the group's exception."""
    assert main(["view", "--dir", str(telemetry_dir)]) == 0
    out = capsys.readouterr().out
    section = _errors_section(out)
    row = next(index for index, line in enumerate(section) if "PaymentDeclined" in line)
    sample = section[row + 1].split()
    assert "1250 cents declined by postgres://shop:REDACTED@db.internal/payments" in section[row + 1]
    assert "hunter2" not in out
    assert main(["view", "--dir", str(telemetry_dir), "--trace", sample[1]]) == 0
    looked_up = capsys.readouterr().out
    assert f"trace {sample[1]}  GET /pay" in looked_up
    assert f"{APP}.PaymentDeclined: 1250 cents declined" in looked_up


def test_view_since_counts_only_the_window(telemetry_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --since, a group counts what it grew by within the window: all of it here when the window
    covers the run."""
    assert main(["view", "--dir", str(telemetry_dir), "--since", "1h"]) == 0
    assert _errors_section(capsys.readouterr().out)[0] == "Errors  (5 groups, 12 failures)"


# -- in VictoriaMetrics, through the dashboards and the rules -----------------------------------------------


@dataclass(frozen=True)
class Engine:
    engine: PromQL
    failing: str
    healthy: str
    silent: str
    dashboards: dict[str, dict[str, Any]]
    receiver: OTLPReceiver


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    workdir = tmp_path_factory.mktemp("promql")
    run = uuid.uuid4().hex[:8]
    failing, healthy, silent = f"failing-{run}", f"healthy-{run}", f"silent-{run}"
    settings = load_settings({"service_name": failing}, environ={}, cwd=workdir)
    dashboards = {Path(path).stem: json.loads(text) for path, text in render(settings).items()
                  if path.endswith(".json")}
    with start_promql(workdir) as promql, OTLPReceiver() as receiver, ExitStack() as apps:
        urls = {}
        for service in (failing, healthy):
            environment = _environment(service, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=promql.otlp_url,
                                       OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
            urls[service] = apps.enter_context(_serving(workdir / service, environment))
        _send(urls[failing], TRAFFIC)
        _wait(lambda: bool(promql.query(f'obs_errors_total{{service_name="{failing}"}}')))
        _send(urls[failing], TRAFFIC)  # a second burst, so that the rate windows hold an increase
        stop = threading.Event()
        steady = threading.Thread(target=_steadily, args=(urls[healthy], stop), daemon=True)
        steady.start()  # the healthy app serves all along, as a healthy app does
        apps.callback(steady.join, 10)
        apps.callback(stop.set)
        requests = f'http_server_request_duration_seconds_count{{service_name="{healthy}"}}'
        _wait(lambda: bool(promql.query(f"sum(rate({requests}[1m])) > 0")))
        yield Engine(promql, failing, healthy, silent, dashboards, receiver)


def _steadily(url: str, stop: threading.Event) -> None:
    """A request to /ok every 0.2 s until ``stop`` (3 minutes at most); a slow answer on a busy machine
    does not end it."""
    deadline = time.monotonic() + 180
    while not stop.wait(0.2) and time.monotonic() < deadline:
        try:
            _send(url, {"/ok": 1})
        except (OSError, AssertionError):
            continue


def _wait(condition: Any, timeout_s: float = 60.0) -> None:  # bounded; a loaded machine exports late
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.3)


def _values(service: str) -> dict[str, str]:
    return {"service": service, "environment": ".*", "instance": ".*", "search": "", "min_duration": "0ms",
            "exception_type": ".+"}


def _panels(engine: Engine, names: tuple[str, ...]) -> dict[str, list[Query]]:
    """PromQL targets by panel (dashboard / title), for the named dashboards."""
    found: dict[str, list[Query]] = {}
    for name in names:
        for query in queries(engine.dashboards[name]):
            if query.language == "promql" and not query.panel.startswith("$"):
                found.setdefault(f"{name} / {query.panel}", []).append(query)
    return found


def _samples(engine: Engine, query: Query, service: str) -> list[float]:
    expr = substitute(query.text, _values(service))
    series = engine.engine.query(expr) if query.instant else engine.engine.query_range(expr, seconds=120)
    values = [item["value"] for item in series if "value" in item]
    values += [point for item in series for point in item.get("values", [])]
    return [float(value) for _, value in values if math.isfinite(float(value))]


def test_dashboard_counts_match_the_requests(engine: Engine) -> None:
    """The counter in VictoriaMetrics, summed over workers by the group's labels, holds the counts sent; the
    groups table finds first and last seen and a sample trace for each group."""
    by = ", ".join(GROUP_LABELS)
    expected = {key: 2.0 * value for key, value in EXPECTED.items()}  # two bursts of the same mix

    def counts() -> dict[tuple[str, ...], float]:
        summed = engine.engine.query(f'sum by ({by}) (obs_errors_total{{service_name="{engine.failing}"}})')
        return {tuple(item["metric"][name] for name in GROUP_LABELS): float(item["value"][1])
                for item in summed}

    _wait(lambda: counts() == expected)  # the second burst's last export may be on its way
    assert counts() == expected
    table = [query for query in queries(engine.dashboards["errors"]) if query.panel == "Error groups"
             and query.ref_id in ("B", "C")]
    for query in table:
        series = engine.engine.query(substitute(query.text, _values(engine.failing)))
        assert {tuple(item["metric"][name] for name in GROUP_LABELS) for item in series} == set(EXPECTED)
        if query.ref_id == "C":
            assert all(len(item["metric"]["trace_id"]) == 32 for item in series)


def test_a_chosen_type_finds_its_traces_and_log_lines(engine: Engine) -> None:
    """With KeyError chosen, the Errors dashboard's Tempo query selects exactly the failed /lookup requests
    and its Loki query exactly the log lines of those KeyErrors (Flask logs each one), both from what the
    agent sent."""
    values = {**_values(engine.failing), "exception_type": "KeyError"}
    mine = {"service.name": engine.failing}
    spans = [span for span in engine.receiver.spans() if mine.items() <= span.resource.items()]
    logs = [record for record in engine.receiver.logs() if mine.items() <= record.resource.items()]
    panels = {query.panel: query for query in queries(engine.dashboards["errors"])}
    chosen = traceql_select(substitute(panels["Failed traces"].text, values), spans)
    assert {span.name for span in chosen} == {"GET /lookup"} and len(chosen) == 2 * EXPECTED[
        ("KeyError", f"{APP}.lookup", "GET /lookup")]
    lines = logql_select(substitute(panels["Log lines"].text, values), logs)
    assert lines and {record.attributes["exception.type"] for record in lines} == {"KeyError"}
    assert {record.trace_id for record in lines} <= {span.trace_id for span in chosen}


def test_new_error_group_rule_finds_every_group_of_a_first_run(engine: Engine) -> None:
    """The "new kind of error" alert's expression, run in VictoriaMetrics, returns each group of an app seen
    for the first time (none of them was met the day before)."""
    rules = alert_rules(engine.failing)["groups"][1]["rules"]
    expr = next(rule["expr"] for rule in rules if rule["alert"] == "ObsNewErrorGroup")
    found = {tuple(item["metric"][name] for name in GROUP_LABELS) for item in engine.engine.query(expr)}
    assert found == set(EXPECTED)


def test_healthy_app_reads_zero_on_every_error_panel(engine: Engine) -> None:
    """An app that never fails: every panel of the overview, errors and runtime dashboards has data, and
    every error panel reads 0 (not "No data"); the error-ratio rule reads 0 too."""
    panels = _panels(engine, ("overview", "errors", "runtime"))

    def samples() -> dict[str, list[float]]:
        return {panel: [value for query in targets for value in _samples(engine, query, engine.healthy)]
                for panel, targets in panels.items()}

    _wait(lambda: all(samples().values()))  # quantiles need two exports of the traffic in their window
    found = samples()
    empty = [panel for panel, values in found.items() if not values]
    nonzero = [panel for panel, values in found.items() if "Error" in panel and any(values)]
    assert not empty, f"no data for: {empty}"
    assert not engine.engine.query(f'obs_errors_total{{service_name="{engine.healthy}"}}')  # 0, not a series
    assert not nonzero, f"errors where none happened: {nonzero}"
    assert any("Error" in panel for panel in _panels(engine, ("errors",)))
    ratio = alert_rules(engine.healthy)["groups"][0]["rules"][-1]
    assert ratio["record"].endswith("errors:ratio_rate5m")
    assert [float(item["value"][1]) for item in engine.engine.query(ratio["expr"])] == [0.0]


def test_silent_service_reads_no_data(engine: Engine) -> None:
    """A service that sends nothing at all gets "No data" on every panel, error panels included: the zero
    never stands for an app that is not there."""
    filled = [panel for panel, targets in _panels(engine, ("overview", "errors", "runtime")).items()
              if any(_samples(engine, query, engine.silent) for query in targets)]
    assert not filled
