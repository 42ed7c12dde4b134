"""`obs check [DIR]`: validate the generated observability/ folder offline, one line per problem."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from obs.checks import check_folder
from obs.errors import CheckFailed
from obs.stackdir import observability_dir

__all__ = ["register"]


def _check(args: argparse.Namespace) -> int:
    folder = observability_dir(args.dir)
    report = check_folder(folder)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for finding in report.findings:
        print(finding)
    count = len(report.findings)
    if count:
        raise CheckFailed(f"{count} problem{'s' if count != 1 else ''} in {folder} (listed above)")
    print(f"{folder}: {len(report.checked)} files checked, no problems")
    return 0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="Validate the generated observability/ folder offline.",
        description="Validate the collector configs, compose.yaml, alert rules, Grafana provisioning and "
        "dashboards of a generated observability/ folder, without running anything.",
    )
    parser.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help="the observability/ folder, or the project that holds it (default: this project)",
    )
    parser.set_defaults(handler=_check)
