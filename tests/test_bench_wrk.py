"""The bench's load results: wrk's report hook line is read exactly, failures are kept apart from latency."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import wrk

# Captured from Debian's wrk 4.1.0 running the hook against `python -m http.server`.
OUTPUT = """Running 1s test @ http://127.0.0.1:18765/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.47ms    2.35ms  18.01ms   85.33%
  1954 requests in 1.00s, 0.97MB read
  Non-2xx or 3xx responses: 1954
Requests/sec:   1952.95
BENCH_WRK {"requests":1954,"duration_us":1000538,"bytes":1016080,"errors":{"connect":1,"read":2,"write":0,\
"status":1954,"timeout":3},"latency_us":{"p50":1349.0,"p90":5751.0,"p99":10323.0,"mean":2469.6,"max":18013.0}}
"""


def test_hook_line_gives_counts_latencies_in_ms_and_throughput() -> None:
    """Requests, duration and percentiles come from the hook (microseconds to milliseconds); socket errors
    and non-2xx answers are counted separately; throughput is requests over the measured duration."""
    result = wrk.parse(OUTPUT)
    assert (result.requests, result.errors, result.non_2xx) == (1954, 6, 1954)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (1.349, 5.751, 10.323)
    assert result.duration_s == pytest.approx(1.000538)
    assert result.throughput == pytest.approx(1954 / 1.000538)


def test_output_without_the_hook_line_is_an_error_naming_it() -> None:
    """wrk dying before its end prints no hook line: that must fail loudly, not read as zero requests."""
    with pytest.raises(ValueError, match="BENCH_WRK"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_command_uses_one_thread_the_hook_and_whole_seconds() -> None:
    """wrk takes whole seconds; one thread drives the connections so the app keeps the other core."""
    argv = wrk.command("http://h/get", seconds=2.4, connections=4, script="/s.lua")
    assert argv[:4] == ["wrk", "-t1", "-c4", "-d2s"]
    assert argv[-3:] == ["-s", "/s.lua", "http://h/get"]


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = 200 if self.path == "/get" else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk comes from scripts/bench-deps.sh (make bench)")
@pytest.mark.parametrize(("path", "failing"), [("/get", False), ("/missing", True)])
def test_real_wrk_runs_the_hook(tmp_path: Path, path: str, failing: bool) -> None:
    """The installed wrk loads the hook and reports the requests it made; 404s count as non-2xx."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = tmp_path / "report.lua"
    script.write_text(wrk.REPORT_LUA)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        result = wrk.run(url, seconds=1, connections=2, script=str(script))
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 0
    assert result.errors == 0
    assert result.non_2xx == (result.requests if failing else 0)
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk comes from scripts/bench-deps.sh (make bench)")
def test_wrk_failing_raises_with_its_message() -> None:
    """wrk exiting non-zero (here its script is missing) stops the bench with wrk's own words."""
    with pytest.raises(RuntimeError, match="wrk failed"):
        wrk.run("http://127.0.0.1:1/", seconds=1, connections=1, script="/nonexistent.lua")
