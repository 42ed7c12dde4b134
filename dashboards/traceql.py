"""TraceQL for the service's spans in Tempo, scoped to the dashboard's ``$service`` and ``$environment``.

Resource attributes keep their OpenTelemetry names in TraceQL (``resource.service.name``); intrinsics such as
``kind``, ``status`` and ``duration`` need no scope.
"""

from __future__ import annotations

from obs.dashboards.promql import ENVIRONMENT, SERVICE

__all__ = ["failed", "slowest", "spans"]


def spans(*conditions: str) -> str:
    """A span set: the service's spans that also meet every condition (``kind = server``...)."""
    scope = [f'resource.{SERVICE} = "$service"', f'resource.{ENVIRONMENT} =~ "$environment"', *conditions]
    return "{ " + " && ".join(scope) + " }"


def slowest(threshold: str = "$min_duration") -> str:
    """Requests served (server spans) that took at least ``threshold``; the table sorts them slowest first."""
    return spans("kind = server", f"duration >= {threshold}")


def failed() -> str:
    """Spans that ended with an error status."""
    return spans("status = error")
