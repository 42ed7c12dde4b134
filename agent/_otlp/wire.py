"""The OTLP protobuf wire format, written directly: the helpers every encoder of the agent shares.

Why by hand: protobuf is a costly import, and building a message object per record, attribute and
value is what made the SDK's encoders slow on the export thread (see :mod:`obs.agent._otlp.spans`). These
helpers write the same bytes protobuf would: varints, length-delimited fields, and the ``common.proto`` and
``resource.proto`` messages (AnyValue, KeyValue, Resource, InstrumentationScope) the span, metric and log
encoders all use. Standard library only.

Wire format reference: protobuf's encoding guide, opentelemetry/proto/common/v1 and resource/v1.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from obs.agent._support import scrub

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["DOUBLE", "FIXED32", "FIXED64", "SFIXED64", "any_value", "field", "key_value",
           "repeated_key_values", "resource_message", "scope_message", "varint"]

FIXED64: Final = struct.Struct("<Q").pack
SFIXED64: Final = struct.Struct("<q").pack
FIXED32: Final = struct.Struct("<I").pack
DOUBLE: Final = struct.Struct("<d").pack


def varint(value: int) -> bytes:
    """An unsigned base-128 varint (negative int64 values come as their two's complement, ten bytes)."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag byte, length, payload."""
    return bytes((tag,)) + varint(len(payload)) + payload


def any_value(value: Any) -> bytes:
    """An AnyValue message (common.proto) for a Python value."""
    if isinstance(value, str):
        return field(0x0A, value.encode("utf-8", "replace"))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)  # int64: negatives as ten-byte varints
        return field(0x0A, str(value).encode())
    if isinstance(value, float):
        return b"\x21" + DOUBLE(value)
    if isinstance(value, bytes):
        return field(0x3A, value)
    if isinstance(value, Mapping):
        pairs = (field(0x0A, key_value(str(key), item)) for key, item in value.items() if item is not None)
        return field(0x32, b"".join(pairs))
    if isinstance(value, Sequence):
        return field(0x2A, b"".join(field(0x0A, any_value(item)) for item in value))
    return field(0x0A, str(value).encode("utf-8", "replace"))


def key_value(key: str, value: Any) -> bytes:
    """A KeyValue message."""
    return field(0x0A, key.encode("utf-8", "replace")) + field(0x12, any_value(value))


def resource_message(resource: Resource) -> bytes:
    """A Resource message (resource.proto) as the SDK's ``_encode_resource`` serializes it, without importing
    protobuf: only its attributes are set, and a value the format cannot carry is
    left out."""
    return repeated_key_values(0x0A, resource.attributes)


def repeated_key_values(tag: int, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated KeyValue entries under ``tag``, skipping a value that cannot be encoded (as the SDK does);
    secrets scrubbed (resources, scopes, metric points: encoded once, or once an interval)."""
    if not attributes:
        return b""
    parts = []
    for key, value in scrub.current().attributes(attributes).items():
        if value is None:  # an empty AnyValue, as the SDK writes it
            parts.append(field(tag, field(0x0A, key.encode("utf-8", "replace")) + b"\x12\x00"))
            continue
        try:
            parts.append(field(tag, key_value(key, value)))
        except Exception:  # the SDK encoder skips such values too
            continue
    return b"".join(parts)


def scope_message(scope: InstrumentationScope) -> bytes:
    """An InstrumentationScope message (common.proto), as the SDK's ``_encode_instrumentation_scope``
    serializes it: name, version, attributes."""
    parts = []
    if scope.name:
        parts.append(field(0x0A, scope.name.encode("utf-8", "replace")))
    if scope.version:
        parts.append(field(0x12, scope.version.encode("utf-8", "replace")))
    parts.append(repeated_key_values(0x1A, scope.attributes))
    return b"".join(parts)
