"""`obs run [--] CMD ...`: run a command with the agent in it (and in every Python process it starts).

The command replaces this process (exec): signals reach it directly and its exit code is ours. The agent
starts through a ``sitecustomize`` on ``PYTHONPATH`` (obs/agent/bootstrap), which chains to the user's own.
Nothing is checked here: this runs in front of every start of the app, and the agent reads and checks the
settings (``OTEL_*``/``OBS_*`` and the config file) when it boots in the app anyway; a bad value is one line
for the whole run there, and the app runs without the agent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from obs.errors import UsageError

TYPE_CHECKING = False  # typing stays unloaded: `obs run` imports this before each start of the app
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["agent_environment", "bootstrap_dir", "main", "register", "run"]

def bootstrap_dir() -> str:
    """The folder of the bootstrap ``sitecustomize`` (obs.agent.bootstrap; ``agent/bootstrap`` here).
    os.path, not pathlib: this runs in front of every start of the app, and pathlib costs about 5 ms to
    import in a venv whose start-up has not loaded it already."""
    import obs.agent.bootstrap

    return os.path.dirname(os.path.realpath(obs.agent.bootstrap.__file__))


def register(subparsers: Any) -> None:
    import argparse

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a command with traces, metrics and logs (e.g. obs run -- gunicorn app:app)",
        description="Run CMD with the obs agent in every Python process it starts; exit with CMD's code.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="[--] CMD ...",
                        help="the command to run and its arguments")
    parser.set_defaults(handler=handle)


def agent_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus what starts the agent in the command: the bootstrap first on PYTHONPATH, a run id."""
    from obs.agent.bootstrap import RUN_ID_VARIABLE

    env = dict(environ)
    existing = env.get("PYTHONPATH", "")
    bootstrap = bootstrap_dir()
    parts = [bootstrap] + [part for part in existing.split(os.pathsep) if part and part != bootstrap]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env[RUN_ID_VARIABLE] = os.urandom(16).hex()
    env["OBS_RUN_PID"] = str(os.getpid())
    return env


def run(command: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """Exec ``command`` with the agent; returns only when it could not be started (126/127, as shells do)."""
    environ = os.environ if environ is None else environ
    env = agent_environment(environ)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], list(command), env)
    except FileNotFoundError:
        print(f"obs: command not found: {command[0]}", file=sys.stderr)
        return 127
    except OSError as error:
        print(f"obs: cannot run {command[0]}: {error.strerror or error}", file=sys.stderr)
        return 126
    return 0  # pragma: no cover - exec does not return


def handle(args: argparse.Namespace) -> int:
    return _run_command(args.command)


def _run_command(args: Sequence[str]) -> int:
    command = list(args)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError("nothing to run: give a command, e.g. `obs run -- gunicorn app:app`")
    return run(command)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m obs.commands.run [--] CMD ...`` and plain ``obs run``: without argparse or the rest of the
    CLI (this runs in front of every start of the app)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run_command(args)
    except UsageError as error:
        print(f"obs: UsageError: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
