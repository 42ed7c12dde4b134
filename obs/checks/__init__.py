"""``obs check``: offline validation of a generated observability/ folder.

Each module checks one kind of file and adds one :class:`Finding` per problem to a shared :class:`Report`;
checks that use an optional tool (promtool, amtool, `docker compose config`) add a note when it is not there.
"""

from __future__ import annotations

from pathlib import Path

from obs.checks._report import Finding, Report
from obs.checks.alerting import check_alerting
from obs.checks.collector import check_collector
from obs.checks.compose import check_compose
from obs.checks.grafana import check_dashboards, check_provisioning
from obs.checks.rules import check_rules

__all__ = ["Finding", "Report", "check_folder"]

_CHECKS = (check_collector, check_compose, check_rules, check_alerting, check_provisioning, check_dashboards)


def check_folder(root: Path) -> Report:
    """Run every check over ``root`` (an observability/ folder)."""
    report = Report(root)
    for check in _CHECKS:
        check(report)
    return report
