"""Configs of the stack's backends: Prometheus (metrics over OTLP), Tempo (traces) and Loki (logs).

Each is the smallest single-process config that keeps data in the container's volume and accepts OTLP from the
collector. Receivers bind ``0.0.0.0``: inside a container, localhost is the container itself.
"""

from __future__ import annotations

from typing import Any

from obs.agent.catalog import PROMOTED_RESOURCE_ATTRIBUTES

__all__ = ["loki_config", "prometheus_config", "tempo_config"]


def prometheus_config() -> dict[str, Any]:
    """Prometheus 3 with its OTLP receiver (turned on by a flag in compose.yaml) and the app's rules.

    Promoting the resource attributes is what makes ``service_name`` a label for dashboards and rules.
    """
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "otlp": {
            "promote_resource_attributes": list(PROMOTED_RESOURCE_ATTRIBUTES),
            "keep_identifying_resource_attributes": True,
        },
        # OTLP pushes can arrive late or out of order (retries, batching): accept them for a while.
        "storage": {"tsdb": {"out_of_order_time_window": "30m"}},
        "rule_files": ["rules/*.yaml"],
        # Firing alerts go to Alertmanager, which notifies the receiver the user fills in.
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
        ],
    }


def tempo_config() -> dict[str, Any]:
    """Single-binary Tempo keeping traces on local disk, with OTLP on the standard ports."""
    return {
        "stream_over_http_enabled": True,
        "server": {"http_listen_port": 3200, "log_level": "warn"},
        "distributor": {
            "receivers": {
                "otlp": {
                    "protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}},
                },
            },
        },
        # Span metrics and the service graph, written to Prometheus: Grafana's service map reads them there.
        "metrics_generator": {
            "registry": {"external_labels": {"source": "tempo"}},
            "storage": {
                "path": "/var/tempo/generator/wal",
                "remote_write": [{"url": "http://prometheus:9090/api/v1/write", "send_exemplars": True}],
            },
            "traces_storage": {"path": "/var/tempo/generator/traces"},
        },
        "overrides": {
            "defaults": {
                "metrics_generator": {"processors": ["service-graphs", "span-metrics", "local-blocks"]}
            },
        },
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": "72h"}},
        "storage": {
            "trace": {
                "backend": "local",
                "wal": {"path": "/var/tempo/wal"},
                "local": {"path": "/var/tempo/blocks"},
            },
        },
    }


def loki_config() -> dict[str, Any]:
    """Single-binary Loki with the TSDB index; OTLP logs arrive on ``/otlp`` with trace ids as metadata."""
    return {
        "auth_enabled": False,
        "server": {"http_listen_port": 3100, "log_level": "warn"},
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": "/loki",
            "storage": {"filesystem": {"chunks_directory": "/loki/chunks", "rules_directory": "/loki/rules"}},
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
        },
        "schema_config": {
            "configs": [
                {
                    "from": "2024-01-01",
                    "store": "tsdb",
                    "object_store": "filesystem",
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": "24h"},
                },
            ],
        },
        # Structured metadata carries OTLP attributes such as trace_id, which Grafana links to Tempo.
        "limits_config": {
            "allow_structured_metadata": True,
            "volume_enabled": True,
            "retention_period": "72h",
        },
        "compactor": {
            "working_directory": "/loki/compactor",
            "retention_enabled": True,
            "delete_request_store": "filesystem",
        },
    }
