"""`obs view` on the command line: what it prints, and the one-line answers when there is nothing to show."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obs.cli import main
from obs.commands.view import parse_since
from obs.errors import UsageError
from obs.view import Options, Style, read_report, render
from tests.telemetry_files import Child, Writer

SECOND = 1_000_000_000


def _shop(directory: Path) -> str:
    start = time.time_ns() - 30 * SECOND
    writer = Writer("shop", "worker-1")
    writer.request("/items/<int:item_id>", 200, 0.004, start, log="item 3 viewed")
    slow = writer.request(
        "/items/<int:item_id>/stock", 200, 0.050, start + SECOND,
        children=[Child("SELECT", 0.001, 0.001, attributes={"db.system.name": "sqlite",
                                                             "db.query.text": "SELECT * FROM items"}),
                  Child("GET", 0.003, 0.040, attributes={"http.response.status_code": 200,
                                                          "url.full": "http://127.0.0.1:8090/stock/3"})],
    )
    writer.request("/fail", 500, 0.002, start + 2 * SECOND, exception=RuntimeError("simulated failure"))
    writer.log("disk almost full", start + 3 * SECOND)
    writer.flush(directory)
    writer.close()
    return slow


def test_prints_routes_traces_and_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The view lists each route with its counts, the slowest trace as a tree (database and upstream call
    under the request), the failed trace with its exception, and logs with their trace ids."""
    slow = _shop(tmp_path)
    assert main(["view", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "GET /items/<int:item_id>/stock" in out
    assert f"trace {slow}" in out
    assert "SELECT  client sqlite SELECT * FROM items" in out
    assert "GET  client 200 http://127.0.0.1:8090/stock/3" in out
    assert "RuntimeError: simulated failure" in out
    assert "Failed traces  (1 of 1)" in out
    log_lines = [line for line in out.splitlines() if "item 3 viewed" in line or "disk almost full" in line]
    assert len(log_lines) == 2
    assert len(log_lines[0].split()[2]) == 32  # the trace id the log was written in
    assert log_lines[1].split()[2] == "-"  # written outside any request


def test_route_table_columns(tmp_path: Path) -> None:
    """One route line holds requests, rate, error ratio and three percentiles in aligned columns."""
    _shop(tmp_path)
    text = render(read_report(tmp_path, Options()), Style(width=200))
    header = next(line for line in text.splitlines() if line.strip().startswith("route"))
    assert header.split() == ["route", "requests", "req/s", "errors", "p50", "p95", "p99"]
    fail = next(line for line in text.splitlines() if line.strip().startswith("GET /fail")).split()
    requests, rate, errors = fail[2], float(fail[3]), fail[4]
    assert (requests, errors) == ("1", "100%")
    assert 0 < rate < 1  # one request over the ~30 s the data covers
    assert fail[-6:] == ["2.0", "ms", "2.0", "ms", "2.0", "ms"]


def test_ascii_trees_and_width_limit(tmp_path: Path) -> None:
    """Without a UTF-8 terminal the trees use ASCII, and no line is wider than the terminal."""
    _shop(tmp_path)
    text = render(read_report(tmp_path, Options()), Style(width=70, unicode=False))
    assert "`- GET" in text and "├" not in text
    assert max(len(line) for line in text.splitlines()) <= 70


def test_no_telemetry_is_one_line_that_says_how_to_get_some(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty or missing folder: exit 1 and one line on stderr naming the folder and `obs run`."""
    assert main(["view", "--dir", str(tmp_path / "nothing")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert str(tmp_path / "nothing") in captured.err and "obs run -- " in captured.err


def test_filters_that_leave_nothing_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Data exists but --service matches none of it: the line says to widen the filter."""
    _shop(tmp_path)
    assert main(["view", "--dir", str(tmp_path), "--service", "billing"]) == 1
    assert "no telemetry from service 'billing'" in capsys.readouterr().err


def test_default_folder_follows_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --dir the view reads the agent's telemetry folder (here set by OBS_TELEMETRY_DIR)."""
    _shop(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OBS_TELEMETRY_DIR", str(tmp_path / "elsewhere"))
    assert main(["view"]) == 0
    assert "GET /fail" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1.5h", 5400), ("2d", 172800)])
def test_since_accepts_a_number_and_a_unit(text: str, seconds: float) -> None:
    """--since takes seconds, minutes, hours or days."""
    assert parse_since(text) == seconds


def test_bad_since_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --since exits 2 with one line showing the expected form."""
    with pytest.raises(UsageError):
        parse_since("ten minutes")
    assert main(["view", "--dir", str(tmp_path), "--since", "10 min"]) == 2
    assert "e.g. --since 10m" in capsys.readouterr().err


def test_console_script_runs_without_a_terminal(tmp_path: Path) -> None:
    """The installed `obs view` works with its output piped (no terminal size, no colours)."""
    _shop(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_"))}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "obs"), "view", "--dir", str(tmp_path), "--limit", "1"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Slowest traces  (1 of 3)" in result.stdout


def test_notes_report_what_the_agent_dropped(tmp_path: Path) -> None:
    """When the agent's drop counters are above zero, the view ends with a note naming how many and what,
    summing the counter's series (one per reason)."""
    writer = Writer("shop", "worker-1")
    writer.request("/get", 200, 0.001, time.time_ns() - SECOND)
    writer.count("obs.logs.dropped", 100, {"reason": "queue_full"})
    writer.count("obs.logs.dropped", 20, {"reason": "endpoint_not_answering"})
    writer.count("obs.spans.dropped", 0, {"reason": "queue_full"})
    writer.count("obs.metrics.dropped", 42, {"reason": "endpoint_refused"})
    writer.flush(tmp_path)
    writer.close()
    text = render(read_report(tmp_path, Options()), Style(width=200))
    assert "note: the agent did not export 120 log records (see obs.logs.dropped, by reason)" in text
    assert "note: the agent did not export 42 metric points (see obs.metrics.dropped, by reason)" in text
    assert "spans (see" not in text


DEEP_LINE = "[" * 100_000 + "]" * 100_000 + "\n"


def _obs_view(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_"))}
    return subprocess.run(
        [sys.executable, "-m", "obs", "view", "--dir", str(directory)],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_a_deeply_nested_line_is_skipped_and_counted(tmp_path: Path) -> None:
    """A line of 100,000 nested brackets is one unreadable line among readable ones, not a RecursionError."""
    _shop(tmp_path)
    with (tmp_path / "traces.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(DEEP_LINE)
    lines = sum(1 for _ in (tmp_path / "traces.jsonl").open(encoding="utf-8"))
    result = _obs_view(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "GET /fail" in result.stdout
    assert f"note: skipped 1 unreadable line(s), first traces.jsonl:{lines}: nested too deeply to read" in (
        result.stdout
    )


def test_nothing_readable_and_no_filter_says_what_was_skipped(tmp_path: Path) -> None:
    """Only unreadable lines, no --since/--service given: one line counting them, no filter advice."""
    (tmp_path / "traces.jsonl").write_text(DEEP_LINE + "not json\n", encoding="utf-8")
    result = _obs_view(tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"obs: NoTelemetry: no readable telemetry in {tmp_path} (2 unreadable lines skipped)"
    ]


def test_filters_that_leave_nothing_name_only_the_filters_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--service alone matched nothing: the advice names --service, not a --since nobody gave."""
    _shop(tmp_path)
    assert main(["view", "--dir", str(tmp_path), "--service", "billing"]) == 1
    err = capsys.readouterr().err
    assert err.strip().endswith("; widen or drop --service")
    assert "--since" not in err
