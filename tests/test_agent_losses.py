"""Nothing is lost silently: every span and log record is exported or counted as dropped, with the reason.

The collector (the test receiver) stops and comes back while an app makes spans and log records; then
spans received + spans counted in obs.spans.dropped = spans made, and the same for log records, within 1%;
the exit line gives the same numbers. Export resumes soon after the collector is back.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from obs.agent._export.losses import REASONS, Lost, exit_line

from tests.agent_run import OBS, clean_environment
from tests.otlp_receiver import MuteCollector, OTLPReceiver

LOAD = """
import logging, sys, time
from opentelemetry import trace

logging.basicConfig(handlers=[logging.NullHandler()])
tracer = trace.get_tracer("load")
log = logging.getLogger("load")
print("ready", flush=True)
made, end = 0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for _ in range(20):
        with tracer.start_as_current_span("work"):
            log.warning("work line")
        made += 1
    time.sleep(0.01)
print("made", made, flush=True)
"""


def _dropped(receiver: OTLPReceiver, name: str) -> dict[str, float]:
    return {str(point.attributes.get("reason")): point.value for point in receiver.latest_points(name)}


def _exit_numbers(line: str, what: str) -> int:
    found = re.search(rf"([\d,]+) {what} \(", line)
    return int(found.group(1).replace(",", "")) if found else 0


def test_an_outage_loses_nothing_uncounted(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """Stop the collector for 1.5 s in a 4 s load of spans and log records, then bring it back: received
    plus counted as dropped accounts for all that was made (within 1%), for spans and logs alike, and nothing
    arrives twice; the exit line says the same numbers; the reasons are among the documented ones; export
    resumes after the collector is back (within the 10 s the test waits)."""
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                             "OTEL_TRACES_SAMPLER": "always_on", "OTEL_BSP_EXPORT_TIMEOUT": "500",
                             "OTEL_EXPORTER_OTLP_TIMEOUT": "500"})
    process = subprocess.Popen([OBS, "run", "--", sys.executable, str(script), "4"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        receiver.stop()
        time.sleep(1.5)
        before = receiver.request_count
        receiver.start()
        back = time.monotonic()
        assert receiver.wait_for(lambda: receiver.request_count > before, timeout=10)
        resumed = time.monotonic() - back
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    made = int(stdout.split("made")[-1])
    spans = sum(1 for span in receiver.spans() if span.name == "work")
    logs = sum(1 for record in receiver.logs() if record.body == "work line")
    span_drops, log_drops = _dropped(receiver, "obs.spans.dropped"), _dropped(receiver, "obs.logs.dropped")
    print(f"made {made}; spans received {spans}, dropped {span_drops}; logs received {logs}, dropped "
          f"{log_drops}; export resumed {resumed:.2f} s after the collector came back")
    assert set(span_drops) | set(log_drops) <= set(REASONS)
    # Nothing lost uncounted (received plus dropped covers what was made, within 1%) and nothing sent twice.
    # A batch whose answer came after the export timeout was counted as dropped and yet arrived: on a busy
    # machine that can count a batch on both sides, so the sum may exceed what was made, never fall short.
    assert spans <= made and spans + sum(span_drops.values()) >= made * 0.99, stderr[-2000:]
    assert logs <= made and logs + sum(log_drops.values()) >= made * 0.99, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.startswith("obs: not exported")]
    if span_drops or log_drops:
        (line,) = lines
        assert _exit_numbers(line, "spans") == sum(span_drops.values())
        assert _exit_numbers(line, "log records") == sum(log_drops.values())


def test_counts_by_reason_are_reported_once_each() -> None:
    """Lost.report adds only what is new since the last report, one reason attribute per reason, to a real
    counter; the exit line names each reason with its number, spans and log records alike."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    counter = MeterProvider(metric_readers=[reader]).get_meter("t").create_counter("obs.spans.dropped")
    lost = Lost()
    lost.add("endpoint_not_answering", 500)
    lost.report(counter, queue_full=3)
    lost.add("queued_at_exit", 24)
    lost.report(counter, queue_full=3)
    points = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert {point.attributes["reason"]: point.value for point in points} == {
        "endpoint_not_answering": 500, "queue_full": 3, "queued_at_exit": 24}
    line = exit_line(lost.counts(3), {"endpoint_refused": 1200}, 2048, 65536)
    assert line == (
        "obs: not exported: 527 spans (3 queue full (the queue holds 2,048: raise OTEL_BSP_MAX_QUEUE_SIZE or "
        "sample less), 500 endpoint not answering, 24 still queued at exit); 1,200 log records (1,200 "
        "endpoint refused); counted in obs.spans.dropped and obs.logs.dropped by reason")
    assert exit_line({}, {}, 1, 1) is None


def test_a_last_metrics_export_skipped_at_exit_is_said() -> None:
    """Metrics the exit had no time left to export (the last collection skipped) are not dropped silently:
    the one exit line says so, alone or after the spans and records."""
    alone = exit_line({}, {}, 1, 1, metrics_skipped=True)
    assert alone is not None and "the last metrics (no time left at exit to export them)" in alone
    with_spans = exit_line({"queued_at_exit": 2}, {}, 1, 1, metrics_skipped=True)
    assert with_spans is not None and "2 spans" in with_spans and "the last metrics" in with_spans
    assert exit_line({}, {}, 1, 1, metrics_skipped=False) is None


def test_what_is_still_queued_at_exit_is_counted(tmp_path: Path) -> None:
    """A collector that never answers: the exit budget runs out with spans and records queued or in flight;
    the exit line counts every one of them (endpoint not answering, still queued at exit), no more, no
    less, and says that the last metric export, with its points, failed."""
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    with MuteCollector() as mute:
        env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": mute.endpoint,
                                 "OTEL_TRACES_SAMPLER": "always_on"})
        done = subprocess.run([OBS, "run", "--", sys.executable, str(script), "0.5"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    made = int(done.stdout.split("made")[-1])
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("obs: not exported")]
    assert _exit_numbers(line, "spans") == made and _exit_numbers(line, "log records") == made
    assert "still queued at exit" in line
    assert re.search(r"; [\d,]+ metric points \(the last export failed\);", line), line


COUNTING = """
import pathlib, sys, time
from opentelemetry import metrics

orders = metrics.get_meter("shop").create_counter("shop.orders")
done, made = pathlib.Path(sys.argv[1]), 0
deadline = time.monotonic() + 60
while not done.exists() and time.monotonic() < deadline:
    orders.add(1)
    made += 1
    time.sleep(0.02)
print("made", made, flush=True)
"""


def test_metric_exports_failed_mid_run_are_counted_by_reason(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """The endpoint refuses the first two metric exports of a running app: obs.metrics.dropped, sent with the
    next export that succeeds, holds exactly the data points of the two refused requests, with the reason
    endpoint_refused; the app's own counter still arrives whole (values are cumulative), and the exit, its
    last export delivered, says nothing."""
    script, done = tmp_path / "count.py", tmp_path / "done"
    script.write_text(COUNTING)
    receiver.refuse("metrics", 2)
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    process = subprocess.Popen([OBS, "run", "--", sys.executable, str(script), str(done)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.wait_for(lambda: receiver.refused_count == 2 and bool(
            receiver.latest_points("obs.metrics.dropped")), timeout=30)
        done.touch()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    refused = receiver.refused_points()
    assert {point.name for point in refused} >= {"shop.orders", "process.cpu.time"}
    assert _dropped(receiver, "obs.metrics.dropped") == {"endpoint_refused": len(refused)}
    (orders,) = receiver.latest_points("shop.orders")
    assert orders.value == int(stdout.split("made")[-1])
    assert not [line for line in stderr.splitlines() if line.startswith("obs: not exported")], stderr
