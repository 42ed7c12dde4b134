"""The pinned images of the local stack, in one place so that upgrading one is a one-line change.

Each version was chosen so that the generated files use names and flags that version reads: the collector's
component names depend on its release (see :mod:`obs.collector.components`), Prometheus 3 is needed for the
OTLP receiver flag, and the Grafana release matches the dashboards' schema (grafana-foundation-sdk 11.6).
Within a line, the newest patch: Grafana 11.6.0 has known CVEs (CVE-2025-2703 and CVE-2025-3260, fixed in
11.6.1) and later 11.6 patches carry further security fixes.
"""

from __future__ import annotations

__all__ = ["COLLECTOR_VERSION", "IMAGES"]

COLLECTOR_VERSION = "0.154.0"
"""opentelemetry-collector-contrib release the generated collector config is written for."""

IMAGES = {
    "collector": f"otel/opentelemetry-collector-contrib:{COLLECTOR_VERSION}",
    "prometheus": "prom/prometheus:v3.5.0",
    "tempo": "grafana/tempo:2.8.2",
    "loki": "grafana/loki:3.5.5",
    "grafana": "grafana/grafana:11.6.16",
    "alertmanager": "prom/alertmanager:v0.34.1",
}
"""Compose service name -> pinned official image."""
