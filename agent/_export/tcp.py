"""The agent's TCP connections, opened so that a fork can never catch a codec import half-done.

``socket.getaddrinfo`` encodes a ``str`` host with the ``idna`` codec, which imports ``encodings.idna`` (with
``stringprep`` and ``unicodedata``) the first time, on whichever thread connects first: for the agent, an
export thread. A process that forks at that moment (a gunicorn master, a Celery pool, an app's own fork)
leaves the module's import lock held for ever in the child, whose first connection then hangs (seen: a child
stuck at exit in ``_ModuleLock.acquire`` under ``search_function``, until it was killed). An ASCII host goes
as bytes, which getaddrinfo takes with no codec; any other host loads the codec first through
:func:`obs.agent._support.late_imports.load`, which a fork waits for.
"""

from __future__ import annotations

import socket

from obs.agent._support.late_imports import load

__all__ = ["connect", "load_host_codec"]


def load_host_codec() -> None:
    """Load the codec getaddrinfo uses for a ``str`` host, under the guard a fork waits for (for a library
    that connects with a ``str`` host itself: ``http.client`` for https)."""
    load("encodings.idna")


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection((host, port), timeout)``, with no import on the way for an ASCII host."""
    if host.isascii():  # typeshed says str only; getaddrinfo takes bytes
        return socket.create_connection((host.encode("ascii"), port), timeout)  # type: ignore[arg-type]
    load_host_codec()
    return socket.create_connection((host, port), timeout)
