"""The servers the database and task rows talk to: a private PostgreSQL and Redis, as the tests start them.

They come from the Debian packages `make tools` installs (tests/servers.py starts them on free loopback ports
in temporary folders). A row whose server is missing is left out with a note, and the others still run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

__all__ = ["ENVIRONMENT", "backends", "every_backend"]

ENVIRONMENT = {"postgresql": "EXAMPLES_DATABASE_URL", "redis": "EXAMPLES_BROKER_URL"}
"""Server -> the variable the examples read its URL from (examples.orders, examples.tasks)."""


@contextmanager
def backends(needed: set[str], notes: list[str]) -> Iterator[set[str]]:
    """Start the ``needed`` servers and export their URLs to this process's environment (which the apps
    inherit); yields the servers that run."""
    running: set[str] = set()
    with ExitStack() as stack:
        for name in sorted(needed):
            try:
                from tests import servers

                if name == "postgresql":
                    url = stack.enter_context(servers.postgresql_server()).url("postgresql+psycopg")
                else:
                    url = stack.enter_context(servers.redis_server()).url()
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # tests.servers skips (a BaseException) when a server is missing
                notes.append(f"no {name} for the rows that need it ({error}); `make tools` installs it.")
                continue
            os.environ[ENVIRONMENT[name]] = url
            running.add(name)
        try:
            yield running
        finally:
            for name in running:
                os.environ.pop(ENVIRONMENT[name], None)


@contextmanager
def every_backend(needed: set[str], who: str) -> Iterator[None]:
    """:func:`backends` for a tool that serves one app and cannot do without any of them: exits with one
    line naming what is missing."""
    notes: list[str] = []
    with backends(needed, notes) as running:
        if running != needed:
            raise SystemExit(f"{who} can't be served: {' '.join(notes)}")
        yield
