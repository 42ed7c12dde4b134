"""`obs init [PATH]`: detect what the app uses and scaffold its observability, safely re-runnable.

Flow: build the whole plan in memory (:mod:`obs.init.plan`), compare every file with the disk
(:mod:`obs.init.scaffold`), print what was found and what would change, ask, then write atomically. A dry run
stops before asking. Without a terminal to ask in, ``--yes`` is required whenever something would be
written. Nothing here uses the network.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obs.errors import UsageError

if TYPE_CHECKING:
    from obs.init.scaffold import Action

__all__ = ["register"]


def _relative_to(base: Path) -> Callable[[Path], str]:
    """Paths in the report: relative to the project where they are inside it."""

    def relative(path: Path) -> str:
        try:
            return path.relative_to(base).as_posix() or "."
        except ValueError:
            return str(path)

    return relative


def _confirm(count: int) -> bool:
    try:
        answer = input(f"Write {count} file{'s' * (count != 1)}? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _summary(counts: Counter[Action]) -> str:
    order: tuple[Action, ...] = ("create", "update", "overwrite", "identical", "conflict")
    return ", ".join(f"{counts[action]} {action}" for action in order if counts[action])


def _init(args: argparse.Namespace) -> int:
    from obs.init.plan import build_plan
    from obs.init.report import describe_detection, describe_steps, next_steps
    from obs.init.scaffold import apply

    if args.service_name is not None and not args.service_name.strip():
        raise UsageError(
            "--service-name is empty — give the name the telemetry should carry, or leave it out"
        )
    init_plan = build_plan(
        Path(args.path),
        service_name=args.service_name and args.service_name.strip(),
        out_dir=args.dir,
        force=args.force,
    )
    steps = init_plan.steps
    relative = _relative_to(init_plan.project.root)
    print("\n".join(describe_detection(init_plan)))
    print()
    print("\n".join(describe_steps(steps, init_plan, relative)))
    counts = Counter(step.action for step in steps)
    writes = [step for step in steps if step.writes]
    print()
    if args.dry_run:
        print(f"Dry run: nothing written ({_summary(counts)}).")
        return 0
    if writes and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "obs init needs a yes before writing and there is no terminal to ask in — "
                "pass --yes (or --dry-run to only see the plan)"
            )
        if not _confirm(len(writes)):
            print("Nothing written.")
            return 1
    apply(steps)
    if writes:
        print(f"Done: {_summary(counts)}.")
    else:
        print(f"Nothing to write: {_summary(counts)}.")
    if counts["conflict"] or init_plan.config.conflicts or init_plan.deps.conflicts:
        print("Conflicts were left as they are; `obs init --force` replaces them with what obs generates.")
    print()
    print("\n".join(next_steps(init_plan, relative)))
    return 0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "init",
        help="Detect the app and write its observability settings, packages and local stack.",
        description=(
            "Detect what the project uses (declared dependencies and imports, not what is installed), "
            "then write [tool.obs] (or obs.toml), pin the matching OpenTelemetry instrumentations where "
            "the project declares its dependencies, and generate the observability/ folder. Re-running "
            "brings what obs wrote up to date; files and settings you changed are reported as conflicts "
            "and left alone (--force replaces them)."
        ),
    )
    parser.add_argument(
        "path",
        nargs="?",
        default=os.curdir,
        metavar="PATH",
        help="the project's folder (default: the current folder)",
    )
    parser.add_argument("--yes", "-y", action="store_true", help="write without asking")
    parser.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite files and settings you changed with what obs generates",
    )
    parser.add_argument(
        "--service-name", metavar="NAME", help="service.name of the telemetry (default: the project's name)"
    )
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help="where to generate the stack, relative to the project (default: observability)",
    )
    parser.set_defaults(handler=_init)
