"""Export over HTTPS: the agent verifies the collector's certificate (``OTEL_EXPORTER_OTLP_CERTIFICATE``)
and sends everything over TLS; a collector whose certificate it cannot verify gets nothing, and the app
runs on, with one line about it. A real TLS receiver on loopback with a certificate made by openssl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agent_run import clean_environment, python
from tests.otlp_receiver import OTLPReceiver

SCRIPT = """
import logging
from opentelemetry import trace
with trace.get_tracer("tls-test").start_as_current_span("over-tls"):
    logging.getLogger("tls-test").warning("sent over TLS")
print("app done")
"""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (and 127.0.0.1), with its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_spans_and_logs_reach_a_collector_over_tls(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    """With the collector's CA named, the span and the log record arrive over HTTPS, and obs says nothing."""
    with OTLPReceiver(tls=certificate) as receiver:
        env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                                 "OTEL_EXPORTER_OTLP_CERTIFICATE": str(certificate[0]),
                                 "OTEL_TRACES_SAMPLER": "always_on"})
        ran = python(SCRIPT, env, tmp_path)
        assert ran.returncode == 0 and "app done" in ran.stdout, ran.stderr
        assert receiver.endpoint.startswith("https://")
        assert [span.name for span in receiver.spans()] == ["over-tls"], ran.stderr
        assert "sent over TLS" in receiver.raw().decode("utf-8", "replace")
    assert "obs:" not in ran.stderr, ran.stderr


def test_a_collector_whose_certificate_is_not_trusted_gets_nothing(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """Without it, the self-signed certificate fails verification: nothing is sent, the app is unaffected,
    and obs says once what is wrong and which setting fixes it, then counts what it could not export."""
    with OTLPReceiver(tls=certificate) as receiver:
        env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                                 "OTEL_TRACES_SAMPLER": "always_on"})
        ran = python(SCRIPT, env, tmp_path)
        assert ran.returncode == 0 and "app done" in ran.stdout, ran.stderr
        assert receiver.request_count == 0
    said = [line for line in ran.stderr.splitlines() if line.startswith("obs:")]
    assert len(said) == 2, ran.stderr
    assert said[0].startswith(f"obs: cannot send telemetry to {receiver.endpoint}: its certificate is not "
                              "trusted ([SSL: CERTIFICATE_VERIFY_FAILED]")
    assert "set OTEL_EXPORTER_OTLP_CERTIFICATE to the CA file that signed it" in said[0]
    assert said[1].startswith("obs: not exported: 1 spans"), said  # and counted, as every loss is
    assert "Traceback" not in ran.stderr
