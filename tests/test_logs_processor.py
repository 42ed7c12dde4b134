"""The log queue and its export thread, over real OTLP/HTTP: nothing lost in a burst, every loss counted."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from obs.agent._config.limits import LOGS, BatchLimits, log_limits
from obs.agent._config.routes import resolve_routes
from obs.agent._export.destination import Destination, LogExporter
from obs.agent._logs.processor import ExportQueue
from obs.agent._logs.records import Record
from obs.agent.settings import SettingsError, load_settings
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from tests.otlp_receiver import OTLPReceiver
from tests.test_logs_bridges import run_app


def _record(index: int) -> Record:
    return (time.time_ns(), 9, "INFO", f"line {index}", "test", None, None, 0, None, None, 0, 0, 0, None)


def _limits(queue: int, batch: int) -> BatchLimits:
    """A queue of ``queue`` records sent ``batch`` at a time, on flush or close only (a minute's delay)."""
    return BatchLimits(schedule_delay_ms=60_000, max_queue_size=queue, max_export_batch_size=batch)


def _queue(endpoint: str, limits: BatchLimits, timeout: float = 10) -> ExportQueue:
    exporter = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", timeout=timeout)
    return ExportQueue(exporter, lambda: Resource.create({"service.name": "queue-test"}), limits)


def test_flush_exports_everything_queued_before_it(receiver: OTLPReceiver) -> None:
    """flush() returns once every record submitted before it reached the receiver, long before the
    schedule delay would have exported them."""
    queue = _queue(receiver.endpoint, _limits(1000, 100))
    for index in range(250):
        queue.submit(_record(index))
    assert queue.flush(10)
    assert sorted(str(record.body) for record in receiver.logs()) == sorted(f"line {i}" for i in range(250))
    assert queue.close(5).total == 0


class _CountingExporter(OTLPLogExporter):
    """A real OTLP/HTTP exporter under another class: obs must use its ordinary export() with SDK records."""

    batches = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        type(self).batches += 1
        return super().export(batch)


def test_other_exporters_get_sdk_records_through_export(receiver: OTLPReceiver) -> None:
    """Exporters other than the SDK's OTLP/HTTP one (file fallback, wrappers) receive ReadableLogRecords
    through export(), and what they send is what the direct path sends."""
    exporter = _CountingExporter(endpoint=f"{receiver.endpoint}/v1/logs")
    resource = Resource.create({"service.name": "queue-test"})
    queue = ExportQueue(exporter, lambda: resource, _limits(1000, 100))
    for index in range(150):
        queue.submit(_record(index))
    assert queue.flush(10)
    assert _CountingExporter.batches == 2
    assert len({str(record.body) for record in receiver.logs()}) == 150
    assert queue.close(5).total == 0


class _AgentExporter(LogExporter):
    """The agent core's own log exporter, counting which of its two ways in the queue uses."""

    def __init__(self, destination: Destination) -> None:
        super().__init__(destination)
        self.records_exported = 0
        self.requests_serialized = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.records_exported += len(batch)
        return super().export(batch)

    def export_serialized(self, payload: bytes) -> bool:
        self.requests_serialized += 1
        return super().export_serialized(payload)


def _agent_exporter(endpoint: str, tmp_path: Path) -> _AgentExporter:
    """What ``obs run`` builds for an OTLP endpoint: a LogExporter in front of a Destination."""
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    settings = load_settings(environ=environ, cwd=tmp_path)
    return _AgentExporter(Destination(resolve_routes(settings, environ)["logs"], settings))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_agents_exporter_takes_the_direct_encoding(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """Under ``obs run`` the exporter is the agent core's LogExporter: the queue hands it requests it encoded
    itself (export_serialized, one per batch) and never builds SDK records for export(); every record
    arrives at the collector with its resource."""
    exporter = _agent_exporter(receiver.endpoint, tmp_path)
    resource = Resource.create({"service.name": "agent-exporter"})
    queue = ExportQueue(exporter, lambda: resource, _limits(1000, 100))
    for index in range(150):
        queue.submit(_record(index))
    assert queue.flush(10)
    assert (exporter.requests_serialized, exporter.records_exported) == (2, 0)
    records = receiver.logs()
    assert sorted(str(record.body) for record in records) == sorted(f"line {i}" for i in range(150))
    assert {record.resource["service.name"] for record in records} == {"agent-exporter"}
    assert queue.close(5).total == 0


def test_failures_the_agents_exporter_announced_are_not_reported_again(tmp_path: Path) -> None:
    """An endpoint that refuses connections: the agent core's exporter announces it itself, so the records
    it could not deliver are counted but left out of the exit line; the SDK's exporter says nothing about
    lost records, so for it they stay in."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    resource = Resource.create({"service.name": "refused"})
    limits = _limits(1000, 10)
    agent_queue = ExportQueue(_agent_exporter(endpoint, tmp_path), lambda: resource, limits)
    sdk_queue = _queue(endpoint, limits, timeout=0.3)  # the SDK retries a refused connection until then
    for index in range(25):
        agent_queue.submit(_record(index))
        sdk_queue.submit(_record(index))
    agent_losses, sdk_losses = agent_queue.close(5), sdk_queue.close(5)
    assert (agent_losses.failed, agent_losses.announced, agent_losses.unreported) == (25, 25, 0)
    assert (sdk_losses.failed, sdk_losses.announced, sdk_losses.unreported) == (25, 0, 25)
    assert sdk_losses.describe(1000) == (
        "obs: 25 log records were not exported: 25 rejected or unreachable at the log exporter"
    )


def test_a_full_queue_counts_what_it_drops(receiver: OTLPReceiver) -> None:
    """Past max_queue the app thread drops instead of waiting, and every drop is counted:
    exported + dropped = submitted."""
    queue = _queue(receiver.endpoint, _limits(10, 10))
    for index in range(50):
        queue.submit(_record(index))
    losses = queue.close(10)
    assert losses.dropped > 0 and losses.failed == 0 and losses.unsent == 0
    assert len(receiver.logs()) + losses.dropped == 50


def test_close_gives_up_on_a_silent_collector_and_counts_the_unsent() -> None:
    """A collector that accepts connections and never answers cannot hold the app at exit: close() returns
    after its timeout and the records it could not deliver are counted as still queued."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        queue = _queue(f"http://127.0.0.1:{silent.getsockname()[1]}", _limits(10_000, 100), timeout=5)
        for index in range(20):
            queue.submit(_record(index))
        started = time.monotonic()
        losses = queue.close(0.5)
        assert time.monotonic() - started < 2
    assert losses.unsent == 20
    assert losses.describe(10_000) == (
        "obs: 20 log records were not exported: 20 still queued when the export time ran out at exit"
    )


def test_queue_limits_follow_the_otel_blrp_variables() -> None:
    """OTEL_BLRP_MAX_QUEUE_SIZE, _MAX_EXPORT_BATCH_SIZE and _SCHEDULE_DELAY set the queue; the batch never
    exceeds the queue; a bad value is a SettingsError naming the variable."""
    assert log_limits({}) == LOGS == BatchLimits(1000, 65_536, 512, 30_000)
    limits = log_limits({
        "OTEL_BLRP_MAX_QUEUE_SIZE": "100",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "512",
        "OTEL_BLRP_SCHEDULE_DELAY": "250",
    })
    assert limits == BatchLimits(250, 100, 100, 30_000)
    with pytest.raises(SettingsError, match="OTEL_BLRP_MAX_QUEUE_SIZE"):
        log_limits({"OTEL_BLRP_MAX_QUEUE_SIZE": "lots"})


def test_a_burst_of_50000_loguru_lines_is_exported_completely(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """50,000 loguru lines logged in one burst all reach the collector (the stock SDK exported about
    10,000), and nothing is reported lost."""
    done = run_app("""
        start()
        from loguru import logger
        logger.remove()
        logger.add(os.devnull)
        for index in range(50_000):
            logger.info("burst line {}", index)
        finish()
    """, receiver, tmp_path)
    bodies = {str(record.body) for record in receiver.logs()}
    assert len(bodies) == 50_000
    assert "obs:" not in done.stderr


def test_overflow_is_counted_in_the_metric_and_one_line_at_exit(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """With a deliberately tiny queue a burst overflows: what was dropped is exactly what is missing at the
    collector, it is exported as obs.logs.dropped, and one line on stderr says so at exit."""
    done = run_app("""
        start()
        from loguru import logger
        logger.remove()
        logger.add(lambda message: None)
        for index in range(20_000):
            logger.info("overflow line {}", index)
        finish()
    """, receiver, tmp_path, {"OTEL_BLRP_MAX_QUEUE_SIZE": "200"})
    exported = len(receiver.logs())
    lines = [line for line in done.stderr.splitlines() if line.startswith("obs:")]
    assert len(lines) == 1, done.stderr
    found = re.fullmatch(
        r"obs: not exported: ([\d,]+) log records \(([\d,]+) queue full \(the queue holds 200: raise "
        r"OTEL_BLRP_MAX_QUEUE_SIZE\)\); counted in obs.spans.dropped and obs.logs.dropped by reason",
        lines[0],
    )
    assert found, lines[0]
    dropped = int(found.group(2).replace(",", ""))
    assert dropped > 0 and int(found.group(1).replace(",", "")) == dropped
    assert exported + dropped == 20_000
    assert sum(point.value for point in receiver.latest_points("obs.logs.dropped")) == dropped


def test_the_queues_own_errors_are_said_once_in_the_agents_voice(tmp_path: Path) -> None:
    """An exporter that raises on every batch: one ``obs:`` line on stderr for the whole process (the agent's
    one way to report its own errors, obs.agent._support.report), nothing through the app's logging, the
    records counted as failed, and the app unharmed."""
    code = """
import logging, sys, time
from obs.agent._config.limits import BatchLimits
from obs.agent._logs.processor import ExportQueue
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource

class Refusing(LogRecordExporter):
    def export(self, batch):
        raise RuntimeError("boom")
    def shutdown(self):
        pass
    def force_flush(self, timeout_millis=30000):
        return True

logging.basicConfig(stream=sys.stdout, format="APP LOG %(message)s")
queue = ExportQueue(Refusing(), lambda: Resource.create({}), BatchLimits(60_000, 100, 10))
for n in range(3):
    queue.submit((time.time_ns(), 9, "INFO", f"line {n}", "test", None, None, 0, None, None, 0, 0, 0, None))
    queue.flush(5)
print("failed", queue.close(5).failed)
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert ran.stdout.split("\n")[0] == "failed 3", ran.stdout + ran.stderr
    said = [line for line in ran.stderr.splitlines() if line.startswith("obs:")]
    assert said[0] == "obs: exporting log records failed (RuntimeError: boom); the app goes on without it"
    assert [line for line in said if "exporting log records" in line] == said[:1]
    assert "APP LOG" not in ran.stdout
