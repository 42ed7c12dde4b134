"""The bench's OTLP/HTTP peer: the SDK's own exporter gets 200s from it, and it counts what it dropped."""

from __future__ import annotations

import http.client

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from bench.peer import Peer


def test_sdk_exporter_succeeds_and_the_peer_counts_requests_and_bytes() -> None:
    """Each span exported by the real OTLP/HTTP exporter is one POST /v1/traces answered 200 (the exporter
    would log and retry otherwise); the peer reports the requests and the protobuf bytes it received."""
    with Peer() as peer:
        exporter = OTLPSpanExporter(endpoint=f"{peer.endpoint}/v1/traces")
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for _ in range(3):
            with provider.get_tracer("bench-test").start_as_current_span("work"):
                pass
        provider.shutdown()
        stats = peer.stats()
    assert stats["requests"] == {"/v1/traces": 3}
    assert stats["bytes"]["/v1/traces"] > 3 * 50


def test_chunked_bodies_are_read_and_unknown_paths_get_404() -> None:
    """A chunked POST is consumed whole on a kept-alive connection, and a path that is not OTLP is a 404,
    so a misconfigured exporter shows up as failures instead of silently passing."""
    with Peer() as peer:
        connection = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=5)
        connection.request("POST", "/v1/logs", body=iter([b"abc", b"defg"]), encode_chunked=True)
        first = connection.getresponse()
        first.read()
        connection.request("POST", "/v2/nothing", body=b"x")
        second = connection.getresponse()
        second.read()
        connection.close()
        stats = peer.stats()
    assert (first.status, second.status) == (200, 404)
    assert stats == {"requests": {"/v1/logs": 1}, "bytes": {"/v1/logs": 7}}
