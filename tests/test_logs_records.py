"""Compact log records: severity mapping, conversion to SDK records, and direct OTLP encoding."""

from __future__ import annotations

import pickle
import sys

from obs.agent._logs.otlp import Encoder
from obs.agent._logs.records import (
    Converter,
    LoguruExtra,
    Record,
    exception_info,
    severity_number,
    severity_text,
)
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk.resources import Resource


def test_python_and_loguru_levels_map_to_opentelemetry_severities() -> None:
    """Each Python level band maps to its OpenTelemetry band (loguru TRACE 5 and SUCCESS 25 included), and
    the level names WARNING and CRITICAL are shown as WARN and FATAL."""
    expected = {0: 0, 5: 1, 10: 5, 20: 9, 21: 10, 25: 12, 30: 13, 40: 17, 50: 21, 53: 24, 99: 24}
    assert {level: severity_number(level) for level in expected} == expected
    assert [severity_text(name) for name in ("WARNING", "CRITICAL", "INFO", "SUCCESS")] == [
        "WARN", "FATAL", "INFO", "SUCCESS",
    ]


def test_exception_info_is_formatted_when_captured() -> None:
    """Type (module-qualified outside builtins), message and the full traceback text."""
    try:
        raise KeyError("missing")
    except KeyError:
        kind, value, trace = sys.exc_info()
    info = exception_info(kind, value, trace)
    assert info is not None
    assert info[:2] == ("KeyError", "'missing'")
    assert info[2].startswith("Traceback (most recent call last):")
    assert info[2].endswith("KeyError: 'missing'")
    assert exception_info(None, None, None) is None


RECORDS: list[Record] = [
    (
        1_700_000_000_000_000_000, 13, "WARN", "hello", "app.module", "/src/app.py", "handler", 42,
        {"user": "bob", "ids": (1, 2), "nested": {"a": 1, "b": None}, "obj": object, "none": None,
         "ratio": 0.5, "flag": True, "off": False, "zero": 0, "empty": "", "negative": -3, "huge": 2**70,
         "raw": b"\x00\x01"},
        ("ValueError", "bad", "Traceback..."), 0xABC, 0xDEF, 1, None,
    ),
    (1_700_000_000_000_000_001, 9, "INFO", "no context é ✓", "other", "/src/b.py", "f", 7, None, None,
     0, 0, 0, None),
    (1_700_000_000_000_000_002, 0, "", {"structured": [1, "two"]}, "api", None, None, 0, {"k": "v"}, None,
     0, 0, 0, "my.event"),
    (1_700_000_000_000_000_003, 17, "ERROR", "again", "app.module", "/src/app.py", "handler", 42, None, None,
     0xABC, 0xDEF, 1, None),
]


def _sdk_request(records: list[Record], resource: Resource) -> ExportLogsServiceRequest:
    converter = Converter(lambda: resource)
    converter.refresh()
    return encode_logs([converter.convert(record) for record in records])


def test_direct_encoding_equals_the_sdk_encoding_of_converted_records() -> None:
    """Both export paths give the same OTLP request: our direct encoder (OTLP/HTTP exporter) and SDK records
    through the SDK's encoder (any other exporter), for context, extras of every type, exceptions, structured
    bodies and event names."""
    resource = Resource.create({"service.name": "convert-test"}, schema_url="https://example.org/schema")
    encoder = Encoder(lambda: resource)
    encoder.refresh()
    payload, failed = encoder.encode(RECORDS)
    ours = ExportLogsServiceRequest()
    ours.ParseFromString(payload)
    assert failed == 0
    assert ours == _sdk_request(RECORDS, resource)


def test_converted_records_keep_the_captured_context_and_clean_attributes() -> None:
    """A converted record carries the trace context captured by the bridge (not the export thread's), the
    code location and logger name, and only attribute values OTLP can carry (objects become their text)."""
    request = _sdk_request(RECORDS[:1], Resource.create({"service.name": "convert-test"}))
    scope_logs = request.resource_logs[0].scope_logs[0]
    encoded = scope_logs.log_records[0]
    assert scope_logs.scope.name == "app.module"
    assert encoded.trace_id.hex() == f"{0xABC:032x}" and encoded.span_id.hex() == f"{0xDEF:016x}"
    assert (encoded.flags, encoded.severity_number, encoded.severity_text) == (1, 13, "WARN")
    attributes = {pair.key: pair.value for pair in encoded.attributes}
    assert attributes["obj"].string_value == "<class 'object'>"
    assert [item.int_value for item in attributes["ids"].array_value.values] == [1, 2]
    assert attributes["code.line.number"].int_value == 42
    assert attributes["logger.name"].string_value == "app.module"
    assert attributes["exception.type"].string_value == "ValueError"
    assert attributes["huge"].string_value == str(2**70)
    assert "none" not in attributes


def test_a_record_that_cannot_be_encoded_is_counted_and_left_out() -> None:
    """A value whose text conversion raises costs only its own record, which is counted."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    resource = Resource.create({})
    encoder = Encoder(lambda: resource)
    encoder.refresh()
    bad = (*RECORDS[1][:8], {"broken": Broken()}, *RECORDS[1][9:])
    payload, failed = encoder.encode([bad, RECORDS[1]])
    request = ExportLogsServiceRequest()
    request.ParseFromString(payload)
    assert failed == 1
    assert [log.body.string_value for log in request.resource_logs[0].scope_logs[0].log_records] == [
        RECORDS[1][3]
    ]


def test_the_converter_follows_the_providers_resource() -> None:
    """The resource is read again on refresh (after fork the provider's changes), hashed once, equal to it."""
    resources = [Resource.create({"service.instance.id": "a"})]
    converter = Converter(lambda: resources[-1])
    converter.refresh()
    first = converter.convert(_minimal()).resource
    resources.append(Resource.create({"service.instance.id": "b"}))
    converter.refresh()
    second = converter.convert(_minimal()).resource
    assert first == resources[0] and second == resources[1]
    assert hash(second) == hash(Resource.create({"service.instance.id": "b"}))


def test_loguru_extra_survives_pickling_with_its_trace_id() -> None:
    """loguru's enqueue=True sinks pickle records: the marked extra dict comes back with its trace id."""
    extra = LoguruExtra({"job": "j-1"})
    extra.trace_id = 7
    copy = pickle.loads(pickle.dumps(extra))
    assert type(copy) is LoguruExtra and copy == {"job": "j-1"} and copy.trace_id == 7


def _minimal() -> Record:
    return (1, 9, "INFO", "x", "s", None, None, 0, None, None, 0, 0, 0, None)
