"""`obs view`: the local telemetry in the terminal, for users without Docker or a Grafana.

Reads the files the agent writes when no collector answers (.obs/telemetry/ by default) and prints the
error groups (what fails, where, how often, since when, with a sample trace); per route, the request rate,
error ratio and latency; the slowest and the failed traces as span trees; and the recent logs with their
trace ids. `--trace ID` shows one trace whole, e.g. an error group's sample.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from obs.errors import ObsError, UsageError

__all__ = ["NoTelemetry", "parse_since", "register"]

_SINCE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class NoTelemetry(ObsError):
    """There is nothing to show (yet) in the telemetry folder."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "view",
        help="show the local telemetry: errors, routes, slowest and failed traces, recent logs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dir", type=Path, help="telemetry folder (default: the project's .obs/telemetry)")
    parser.add_argument("--since", metavar="AGE", help="only the last AGE, e.g. 30s, 10m, 2h, 1d")
    parser.add_argument("--service", help="only this service.name")
    parser.add_argument("--limit", type=_count, default=3, metavar="N", help="traces per section (default 3)")
    parser.add_argument("--logs", type=_count, default=15, metavar="N", help="recent log lines (default 15)")
    parser.add_argument("--errors", type=_count, default=10, metavar="N", help="error groups (default 10)")
    parser.add_argument("--trace", metavar="ID", type=_trace_id,
                        help="also show this trace whole (an error group's sample trace, say)")
    parser.set_defaults(handler=run)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _trace_id(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{32}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a trace id of 32 hex digits, got {text!r}")
    return text.strip().lower()


def parse_since(text: str) -> float:
    """``30s``, ``10m``, ``1.5h``, ``2d`` as seconds."""
    match = _SINCE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--since {text!r}: expected a number and a unit (s, m, h, d), e.g. --since 10m")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def run(args: argparse.Namespace) -> int:
    from obs.view import Options, Style, read_report, render

    directory: Path = args.dir if args.dir is not None else _default_dir()
    since_ns = time.time_ns() - int(parse_since(args.since) * 1e9) if args.since else 0
    options = Options(since_ns=since_ns, service=args.service, traces=args.limit, logs=args.logs,
                      errors=args.errors, trace_id=args.trace)
    report = read_report(directory, options)
    if report.empty:
        raise NoTelemetry(_nothing_found(directory, args, len(report.skipped)))
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 160
    sys.stdout.write(render(report, Style(width=max(60, width), unicode=encoding.startswith("utf"))))
    return 0


def _default_dir() -> Path:
    from obs.agent.settings import load_settings

    return load_settings().telemetry_path()


def _nothing_found(directory: Path, args: argparse.Namespace, skipped: int) -> str:
    from obs.view.files import TelemetryDir

    unreadable = f"{skipped} unreadable line{'s' * (skipped != 1)} skipped" if skipped else ""
    if TelemetryDir(directory).has_data():
        given = [
            f"in the last {args.since}" if args.since else "",
            f"from service {args.service!r}" if args.service else "",
        ]
        scope = " ".join(part for part in given if part)
        given_flags = (("--since", args.since), ("--service", args.service))
        if not scope:
            # No filter was given: the files hold nothing readable, and saying "widen --since" would mislead.
            return f"no readable telemetry in {directory} ({unreadable or 'no complete line yet'})"
        return (
            f"no telemetry {scope} in {directory}{f' ({unreadable})' if unreadable else ''}; "
            "widen or drop "
            + "/".join(flag for flag, value in given_flags if value)
        )
    return (
        f"no telemetry in {directory} yet; run your app with `obs run -- <your command>` and send it a few "
        "requests (with no collector on localhost:4318, obs writes its telemetry there)"
    )
