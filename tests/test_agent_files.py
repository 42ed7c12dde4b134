"""No collector: telemetry lands in `.obs/telemetry/*.jsonl` in the OTLP/JSON the Collector's file exporter
writes (one Export*ServiceRequest per line, hex trace and span ids, enums as numbers, 64-bit integers as
strings), which the Collector's otlpjsonfile receiver and `obs view` read back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.agent_run import clean_environment, python

APP = """
import logging, sqlite3
from opentelemetry import trace
with trace.get_tracer("shop").start_as_current_span("checkout", kind=trace.SpanKind.SERVER):
    sqlite3.connect(":memory:").cursor().execute("select 1")
    logging.getLogger("shop").warning("paid %s", 42)
"""


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fallback_files_are_collector_otlp_json(tmp_path: Path) -> None:
    """Spans, logs and metrics are written as OTLP/JSON lines that decode back into OTLP requests, with
    hex ids that tie the log record to its span, and the project's name as service.name."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    ran = python(APP, clean_environment(), tmp_path)
    assert ran.returncode == 0, ran.stderr
    folder = tmp_path / ".obs" / "telemetry"
    spans = [span for line in _lines(folder / "traces.jsonl") for resource in line["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    by_name = {span["name"]: span for span in spans}
    checkout = by_name["checkout"]
    assert checkout["kind"] == 2 and len(checkout["traceId"]) == 32 and len(checkout["spanId"]) == 16
    assert isinstance(checkout["startTimeUnixNano"], str)
    database = next(span for span in spans if span is not checkout)
    assert database["parentSpanId"] == checkout["spanId"] and database["kind"] == 3
    (record,) = [record for line in _lines(folder / "logs.jsonl") for resource in line["resourceLogs"]
                 for scope in resource["scopeLogs"] for record in scope["logRecords"]]
    assert record["traceId"] == checkout["traceId"] and record["spanId"] == checkout["spanId"]
    assert record["body"] == {"stringValue": "paid 42"}
    resource = _lines(folder / "metrics.jsonl")[0]["resourceMetrics"][0]["resource"]
    names = {item["key"]: item["value"] for item in resource["attributes"]}
    assert names["service.name"] == {"stringValue": "shop"}
    for line in _lines(folder / "traces.jsonl"):
        ParseDict(_ids_as_base64(line), ExportTraceServiceRequest())
    for line in _lines(folder / "logs.jsonl"):
        ParseDict(_ids_as_base64(line), ExportLogsServiceRequest())


def _ids_as_base64(document: Any) -> Any:
    """OTLP/JSON's hex ids back to protobuf JSON's base64, to check the rest parses as the schema says."""
    import base64

    if isinstance(document, dict):
        return {key: base64.b64encode(bytes.fromhex(value)).decode()
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str)
                else _ids_as_base64(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_ids_as_base64(item) for item in document]
    return document


def test_file_exporter_on_request_and_telemetry_dir(tmp_path: Path) -> None:
    """OTEL_TRACES_EXPORTER=file writes spans to files even when nothing else is configured, into the
    folder OBS_TELEMETRY_DIR names; the other signals can be off."""
    env = clean_environment({
        "OTEL_TRACES_EXPORTER": "file", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
        "OBS_TELEMETRY_DIR": str(tmp_path / "elsewhere"),
    })
    ran = python(APP, env, tmp_path)
    assert ran.returncode == 0 and ran.obs_lines() == []
    assert sorted(path.name for path in (tmp_path / "elsewhere").iterdir()) == ["traces.jsonl"]


def test_workers_share_the_files_and_the_line(tmp_path: Path) -> None:
    """Forked workers append to the same files without mixing lines, and the fallback is said once.

    Each process flushes its spans before it ends, as a worker does long before its exit: what the exit
    alone manages within its time budget is another matter (test_agent_exit.py), and on a loaded machine the
    first export of a process (the file's protobuf and JSON code load then) can take longer than that."""
    code = (
        "import os\nfrom opentelemetry import trace\n"
        "children = []\n"
        "for _ in range(2):  # four processes in all; a child waits only for the ones it forked itself\n"
        "    child = os.fork()\n    children = children + [child] if child else []\n"
        "for i in range(20):\n    trace.get_tracer('t').start_span(f'span-{os.getpid()}').end()\n"
        "assert trace.get_tracer_provider().force_flush(30_000)\n"
        "for child in children:\n    assert os.waitpid(child, 0)[1] == 0\n"
    )
    ran = python(code, clean_environment({"OTEL_TRACES_SAMPLER": "always_on"}), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    assert len(ran.obs_lines()) == 1, ran.stderr
    lines = _lines(tmp_path / ".obs" / "telemetry" / "traces.jsonl")
    spans = [span for line in lines for resource in line["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    assert len(spans) == 80
    assert len({span["name"] for span in spans}) == 4
