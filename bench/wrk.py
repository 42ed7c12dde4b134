"""Load from wrk: the command line, and its result read from one JSON line that a Lua ``done`` hook prints.

wrk's own text report rounds latencies to two decimals with changing units; the hook reads the exact
histogram (microseconds) and the error counters, so nothing has to be parsed out of prose.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

MARKER = "BENCH_WRK "

# Runs inside wrk after the load: one line with the totals, the error counters and latency percentiles (us).
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"mean":%.1f,"max":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: completed requests, how long it ran, failures, latency percentiles in milliseconds."""

    requests: int
    duration_s: float
    errors: int
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0


def parse(stdout: str) -> LoadResult:
    """Read the hook's line out of wrk's output; ValueError when it is missing (wrk failed before the end)."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER):])
            errors = data["errors"]
            latency = data["latency_us"]
            return LoadResult(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                errors=int(errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]),
                non_2xx=int(errors["status"]),
                p50_ms=latency["p50"] / 1000,
                p90_ms=latency["p90"] / 1000,
                p99_ms=latency["p99"] / 1000,
            )
    raise ValueError(f"no {MARKER.strip()} line in wrk's output:\n{stdout[-2000:]}")


def command(url: str, *, seconds: float, connections: int, script: str, threads: int = 1) -> list[str]:
    """wrk with the report hook; one thread is enough for 4 connections and leaves the app a core."""
    return [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", script, url,
    ]


def run(url: str, *, seconds: float, connections: int, script: str) -> LoadResult:
    """Put load on ``url`` for ``seconds`` and return what wrk measured."""
    done = subprocess.run(
        command(url, seconds=seconds, connections=connections, script=script),
        capture_output=True, text=True, timeout=seconds + 60, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return parse(done.stdout)
