"""The agent's TCP connections, opened so that a fork on another thread cannot leave the child hung.

Two things a connection does the first time can be caught half-done by a ``fork()`` on another thread (a
gunicorn master forking a worker, a Celery pool, an app's own fork) while an export thread connects; the
child, a copy of the process with only the forking thread, then hangs for ever on the lock left held:

- ``socket.getaddrinfo`` encodes a ``str`` host with the ``idna`` codec, importing ``encodings.idna`` once
  (seen: a child stuck at exit in ``_ModuleLock.acquire`` under ``search_function``);
- glibc's resolver takes a lock of its own to read its configuration (seen: a child stuck at exit in
  ``__resolv_context_get``, under ``getaddrinfo``, on Python 3.12).

So the default endpoint's ``localhost`` and IP literals are connected to without asking the resolver at
all; any other name is resolved holding the late-import guard (obs.agent._support.late_imports) that a
fork waits for, with its codec loaded there too.
"""

from __future__ import annotations

import contextlib
import socket

from obs.agent._support.late_imports import late_imports, load

__all__ = ["connect"]

_LOCALHOST = ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"))


def _load_host_codec() -> None:
    """Load the codec getaddrinfo uses for a ``str`` host (the caller holds the guard a fork waits for)."""
    load("encodings.idna")


def _without_resolver(host: str) -> tuple[tuple[int, str], ...]:
    """(family, address) to try for ``localhost`` or an IP literal (``[::1]`` too); empty for a name."""
    if host.lower() == "localhost":
        return _LOCALHOST
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, bare)
        except (OSError, ValueError):
            continue
        return ((family, bare),)
    return ()


def _resolve(host: str, port: int) -> list[tuple[int, str]]:
    with late_imports():
        if host.isascii():  # as bytes, getaddrinfo needs no codec
            found = socket.getaddrinfo(host.encode("ascii"), port, 0, socket.SOCK_STREAM)
        else:
            _load_host_codec()
            found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return [(family, str(address[0])) for family, _, _, _, address in found]


def _open(family: int, address: str, port: int, timeout: float) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((address, port))  # a numeric address: CPython asks no resolver for it
    except BaseException:
        sock.close()
        raise
    with contextlib.suppress(OSError):  # one small request at a time: no Nagle delay (as http.client does)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A connected socket to ``host:port`` (each address in turn, as ``socket.create_connection`` does),
    with ``TCP_NODELAY`` where the system has it."""
    addresses = _without_resolver(host) or _resolve(host, port)
    failure: OSError = OSError(f"no address for {host}")
    for family, address in addresses:
        try:
            return _open(family, address, port, timeout)
        except OSError as error:
            failure = error
    raise failure
