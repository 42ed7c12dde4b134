"""OTLP/JSON lines, as the Collector's file exporter writes them (and its otlpjsonfile receiver reads them).

The protobuf JSON mapping is close to OTLP/JSON with two differences the specification calls out: trace and
span ids are hex strings, not base64, and enums are integers. 64-bit integers stay strings, as in the mapping.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

__all__ = ["to_json_line"]

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _ID_KEYS and isinstance(item, str) else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


def to_json_line(request: Message) -> bytes:
    """One Export*ServiceRequest as one line of compact JSON, newline included."""
    document = MessageToDict(request, use_integers_for_enums=True)
    return json.dumps(_hex_ids(document), separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
