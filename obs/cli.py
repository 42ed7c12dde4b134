"""The ``obs`` command: parses the command line and hands each subcommand to its own module.

Each module in :mod:`obs.commands` owns one subcommand and exposes ``register(subparsers)``; the parser it
adds carries the function to run as its ``handler`` default. Errors the user can fix are printed as one line.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Sequence

from obs.errors import ObsError, UsageError

TYPE_CHECKING = False  # typing stays unloaded: `obs run` imports this before each start of the app
if TYPE_CHECKING:
    import argparse
    from typing import NoReturn

__all__ = ["main"]

COMMANDS = ("init", "run", "view", "up", "check", "dashboards")
"""Modules under obs.commands, in the order ``obs --help`` lists them."""


@functools.cache
def _parser_class() -> type[argparse.ArgumentParser]:
    """argparse that raises instead of printing usage and exiting, so errors stay one line. Made on first
    use: plain ``obs run`` never imports argparse."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message} (see `{self.prog} --help`)")

    return _Parser


_ALIASES = {"down": "up", "status": "up"}
"""Subcommands registered by another command's module."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported.

    `obs run` sits in front of the user's app on every start, so it must not pay for importing grafanalib,
    YAML writers and the other commands' machinery (about 100 ms).
    """
    parser_class = _parser_class()
    parser = parser_class(prog="obs", description="Logs, metrics and traces for a Python app on day one.")
    from obs import __version__

    parser.add_argument("--version", action="version", version=f"obs {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=parser_class)
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"obs.commands.{name}")
        module.register(subparsers)
    return parser


def _command_module(args: Sequence[str]) -> str | None:
    """The module owning the subcommand named first on the command line, if it names one."""
    first = next((arg for arg in args if not arg.startswith("-")), None)
    if first is None or args[0].startswith("-"):
        return None
    module = _ALIASES.get(first, first)
    return module if module in COMMANDS else None


def _paint(text: str) -> str:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[31m{text}\033[0m"
    return text


def report(error: Exception) -> None:
    """Print an error as ``obs: Kind: message`` on stderr."""
    print(_paint(f"obs: {type(error).__name__}: {error}"), file=sys.stderr)


def _plain_run(args: Sequence[str]) -> bool:
    """``obs run [--] CMD ...`` without options of its own: exec'd without argparse or the settings error
    handling below (run checks the settings itself), a few milliseconds sooner on every start of the app."""
    return len(args) >= 2 and args[0] == "run" and (args[1] == "--" or not args[1].startswith("-"))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if _plain_run(args_list):
        from obs.commands.run import main as run_main

        return run_main(args_list[1:])
    from obs.agent.settings import SettingsError

    try:
        parser = build_parser(_command_module(args_list))
        args = parser.parse_args(args_list)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 2 if not args_list else 0
        result: int = handler(args)
        return result
    except (ObsError, SettingsError) as error:
        report(error)
        return error.exit_code if isinstance(error, ObsError) else 2
    except KeyboardInterrupt:
        print("obs: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
