"""Reading OTLP-JSON lines: one ExportTraceServiceRequest (or its metrics/logs twin) per line.

This is the format the Collector's file exporter writes and its ``otlpjsonfile`` receiver reads: protobuf's
JSON mapping (lowerCamelCase keys, 64-bit integers as strings, enums as numbers) except that trace and span
ids are hex strings, as the OTLP specification requires, where protobuf's own mapping would use base64. Lines
are parsed with ``google.protobuf.json_format`` into the ``opentelemetry.proto`` messages; ids arriving in
either encoding are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["LineError", "any_value", "attributes", "parse_line"]

_ID_KEYS: Final = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_HEX_LENGTHS: Final = frozenset({16, 32})
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")

M = TypeVar("M", bound=Message)


class LineError(ValueError):
    """A line that is not one OTLP-JSON request of the expected kind."""


def parse_line(line: str, message_type: type[M]) -> M:
    """One line as the request message; unknown fields (from newer OTLP versions) are ignored."""
    try:
        document = json.loads(line)
        if not isinstance(document, dict):
            raise LineError("not a JSON object")
        message = message_type()
        json_format.ParseDict(_ids_as_base64(document), message, ignore_unknown_fields=True)
    except json.JSONDecodeError as error:
        raise LineError(f"not JSON ({error.msg} at column {error.colno})") from None
    except json_format.ParseError as error:
        raise LineError(f"not an OTLP {message_type.__name__}: {error}") from None
    except RecursionError:
        # Thousands of nested brackets overflow the parser, or the walk over what it returned.
        raise LineError("nested too deeply to read") from None
    return message


def _ids_as_base64(node: Any) -> Any:
    """Turn the hex ids of OTLP-JSON into the base64 that protobuf's JSON parser expects for bytes fields.

    A hex span id has 16 characters and a hex trace id 32, lengths base64 never has for 8 or 16 bytes
    (12 and 24), so ids already in base64 pass through untouched.
    """
    if isinstance(node, dict):
        return {key: _hex_to_base64(v) if key in _ID_KEYS else _ids_as_base64(v) for key, v in node.items()}
    if isinstance(node, list):
        return [_ids_as_base64(item) for item in node]
    return node


def _hex_to_base64(value: Any) -> Any:
    if isinstance(value, str) and len(value) in _HEX_LENGTHS and _HEX_DIGITS.issuperset(value):
        try:
            return base64.b64encode(binascii.unhexlify(value)).decode("ascii")
        except binascii.Error:
            return value
    return value


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as the plain Python value it carries."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP key-value pairs as a dict."""
    result: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        result[pair.key] = any_value(pair.value)
    return result
