"""`obs dashboards`: placeholder registration until its owner lands it."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("dashboards", help="(in progress)")
    parser.set_defaults(handler=lambda args: 0)
