"""``observability/compose.yaml``: the local stack (collector, Prometheus, Alertmanager, Tempo, Loki and
Grafana).

Pinned official images (:mod:`obs.collector.images`), ports published on 127.0.0.1 only (the stack has no
authentication, and Grafana lets anonymous visitors in as admin), data in named volumes so that ``obs down``
keeps it. The project is named after the service so that two apps' stacks do not share containers.
"""

from __future__ import annotations

import re
from typing import Any, Final

from obs.collector.alerting import ALERTMANAGER_CONFIG, ALERTMANAGER_FILE
from obs.collector.grafana import DASHBOARDS_MOUNT
from obs.collector.images import IMAGES

__all__ = ["ALERTMANAGER_PORT", "GRAFANA_PORT", "PORTS", "compose_file", "project_name"]

GRAFANA_PORT: Final = 3000
ALERTMANAGER_PORT: Final = 9093
PORTS: Final[dict[str, tuple[int, ...]]] = {
    "collector": (4317, 4318, 13133),
    "prometheus": (9090,),
    "alertmanager": (ALERTMANAGER_PORT,),
    "grafana": (GRAFANA_PORT,),
}
"""Container ports published on the host (same number, 127.0.0.1 only)."""

VOLUMES: Final = ("prometheus-data", "tempo-data", "loki-data", "alertmanager-data", "grafana-data")


def project_name(service_name: str) -> str:
    """A compose project name (lowercase letters, digits, ``-`` and ``_``) derived from the service name."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", service_name.lower()).strip("-_")
    return f"obs-{cleaned or 'app'}"


def _ports(service: str) -> list[str]:
    return [f"127.0.0.1:{port}:{port}" for port in PORTS[service]]


def compose_file(service_name: str) -> dict[str, Any]:
    """The compose file as a mapping; paths are relative to observability/, where it is written."""
    backends = ["prometheus", "tempo", "loki"]
    services: dict[str, Any] = {
        "collector": {
            "image": IMAGES["collector"],
            "command": ["--config=/etc/otelcol-contrib/config.yaml"],
            "volumes": ["./collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro"],
            "ports": _ports("collector"),
            "depends_on": backends,
            "restart": "unless-stopped",
        },
        "prometheus": {
            "image": IMAGES["prometheus"],
            "command": [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                "--web.enable-otlp-receiver",
                "--web.enable-remote-write-receiver",
                "--enable-feature=exemplar-storage",
            ],
            "volumes": ["./prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"],
            "ports": _ports("prometheus"),
            "restart": "unless-stopped",
        },
        # The Tempo image creates /var/tempo owned by its user (uid 10001), and a fresh named volume takes
        # the owner of the folder it is mounted on: no one-shot chown container (`up --wait` fails when one
        # exits, docker/compose#10596).
        "tempo": {
            "image": IMAGES["tempo"],
            "command": ["-config.file=/etc/tempo/tempo.yaml"],
            "volumes": ["./tempo/tempo.yaml:/etc/tempo/tempo.yaml:ro", "tempo-data:/var/tempo"],
            "restart": "unless-stopped",
        },
        "loki": {
            "image": IMAGES["loki"],
            "command": ["-config.file=/etc/loki/loki.yaml"],
            "volumes": ["./loki/loki.yaml:/etc/loki/loki.yaml:ro", "loki-data:/loki"],
            "restart": "unless-stopped",
        },
        # Prometheus evaluates the alert rules and sends what fires here; its config says who to notify.
        "alertmanager": {
            "image": IMAGES["alertmanager"],
            "command": [
                f"--config.file=/etc/alertmanager/{ALERTMANAGER_FILE}",
                "--storage.path=/alertmanager",
            ],
            "volumes": [
                f"./{ALERTMANAGER_CONFIG}:/etc/alertmanager/{ALERTMANAGER_FILE}:ro",
                "alertmanager-data:/alertmanager",
            ],
            "ports": _ports("alertmanager"),
            "restart": "unless-stopped",
        },
        "grafana": {
            "image": IMAGES["grafana"],
            "environment": {
                "GF_AUTH_ANONYMOUS_ENABLED": "true",
                "GF_AUTH_ANONYMOUS_ORG_ROLE": "Admin",
                "GF_AUTH_DISABLE_LOGIN_FORM": "true",
                "GF_ANALYTICS_REPORTING_ENABLED": "false",
                "GF_NEWS_NEWS_FEED_ENABLED": "false",
            },
            "volumes": [
                "./grafana/provisioning:/etc/grafana/provisioning:ro",
                f"./dashboards:{DASHBOARDS_MOUNT}:ro",
                "grafana-data:/var/lib/grafana",
            ],
            "ports": _ports("grafana"),
            "depends_on": backends,
            "healthcheck": {
                "test": ["CMD-SHELL", f"curl -fsS http://localhost:{GRAFANA_PORT}/api/health >/dev/null"],
                "interval": "5s",
                "timeout": "3s",
                "retries": 30,
            },
            "restart": "unless-stopped",
        },
    }
    return {
        "name": project_name(service_name),
        "services": services,
        "volumes": {volume: {} for volume in VOLUMES},
    }
