"""Reading OTLP-JSON lines into opentelemetry.proto messages (obs.view.otlpjson)."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from obs.view.otlpjson import LineError, attributes, parse_line

# Shaped like the OTLP specification's examples/trace.json: hex ids, kind as a number, int64 as strings.
SPEC_EXAMPLE = {
    "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
        "scopeSpans": [{
            "scope": {"name": "my.library", "version": "1.0.0"},
            "spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174",
                "parentSpanId": "eee19b7ec3c1b173",
                "name": "I'm a server span",
                "startTimeUnixNano": "1544712660000000000",
                "endTimeUnixNano": "1544712661000000000",
                "kind": 2,
                "attributes": [{"key": "my.span.attr", "value": {"intValue": "42"}}],
                "status": {"code": 2, "message": "boom"},
                "someFieldFromAFutureVersion": True,
            }],
        }],
    }]
}


def test_spec_example_parses_with_hex_ids() -> None:
    """The OTLP JSON form (hex ids, numeric enums, string int64) becomes the protobuf message; fields a newer
    OTLP version adds are ignored."""
    request = parse_line(json.dumps(SPEC_EXAMPLE), ExportTraceServiceRequest)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert (span.kind, span.status.code, span.end_time_unix_nano) == (2, 2, 1544712661000000000)
    assert attributes(span.attributes) == {"my.span.attr": 42}


def test_base64_ids_from_protobufs_own_json_mapping_are_read_too() -> None:
    """Writers that used protobuf's JSON mapping unchanged put base64 ids; they give the same message."""
    document = json.loads(json.dumps(SPEC_EXAMPLE))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId", "parentSpanId"):
        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    assert parse_line(json.dumps(document), ExportTraceServiceRequest) == parse_line(
        json.dumps(SPEC_EXAMPLE), ExportTraceServiceRequest
    )


def test_log_record_ids_and_body_are_read() -> None:
    """Log records carry hex trace and span ids as well."""
    line = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1544712660300000000", "severityNumber": 9, "severityText": "INFO",
        "body": {"stringValue": "hello"},
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
    }]}]}]})
    record = parse_line(line, ExportLogsServiceRequest).resource_logs[0].scope_logs[0].log_records[0]
    assert (record.trace_id.hex(), record.span_id.hex(), record.body.string_value) == (
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "hello"
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"resourceSpans": [', "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', "not an OTLP"),
    ],
)
def test_bad_lines_raise_line_error_with_the_reason(line: str, problem: str) -> None:
    """Truncated JSON, a non-object and a wrong field value each raise LineError naming the problem."""
    with pytest.raises(LineError, match=problem):
        parse_line(line, ExportTraceServiceRequest)
