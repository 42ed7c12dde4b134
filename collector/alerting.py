"""The alerting path of the local stack: Prometheus evaluates the rules, Alertmanager notifies someone.

Alertmanager routes every alert to one receiver, ``obs-team``, left without an integration: obs cannot know
where the user's team is paged, so the generated file names the receiver and its header shows how to give it
one (a webhook, an e-mail address, a Slack channel...). Until then alerts are visible in Grafana and on
Alertmanager's page but notify nobody, and ``obs check`` says so.
"""

from __future__ import annotations

from typing import Any, Final

from obs.agent.catalog import label

__all__ = [
    "ALERTMANAGER_CONFIG",
    "ALERTMANAGER_FILE",
    "ALERTMANAGER_HEADER",
    "RECEIVER",
    "alertmanager_config",
    "integrations",
]

ALERTMANAGER_FILE: Final = "alertmanager.yml"
ALERTMANAGER_CONFIG: Final = f"alertmanager/{ALERTMANAGER_FILE}"
"""Where the config lives under observability/ (compose mounts it into the Alertmanager container)."""

RECEIVER: Final = "obs-team"

ALERTMANAGER_HEADER: Final = "\n".join(
    (
        f"Alertmanager routes every alert to the receiver `{RECEIVER}`, which notifies nobody until you",
        "give it an integration, for example:",
        "  receivers:",
        f"    - name: {RECEIVER}",
        "      webhook_configs:",
        "        - url: https://hooks.example.com/alerts",
        "or email_configs, slack_configs, pagerduty_configs... Keep secrets in files (the *_file settings).",
    )
)
"""Comment at the top of the generated file: the placeholder the user fills in."""


def integrations(receiver: dict[str, Any]) -> list[str]:
    """The integration keys (``webhook_configs``...) a receiver mapping has with at least one entry."""
    return sorted(key for key, value in receiver.items() if key.endswith("_configs") and value)


def alertmanager_config() -> dict[str, Any]:
    """One route to one receiver, grouped per alert and service so that one incident is one notification."""
    return {
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname", label("service.name")],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": RECEIVER}],
    }
