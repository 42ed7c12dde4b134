"""OTLP/HTTP over the standard library's ``http.client``: one kept-alive connection per signal.

Why not the SDK's exporter: it imports ``requests`` (about 100 ms here, in every instrumented process) and
retries a refused connection six times with exponential backoff, logging each try - the retry spam and the
8-20 s exit delay of the zero-code agent. Here a request is tried once, plus one immediate retry when a
kept-alive connection turned out stale; what to do about failures is the caller's decision.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from obs.agent._routes import Route

__all__ = ["HttpSender", "Reply"]

_USER_AGENT = "obs-agent OTLP/HTTP protobuf"
_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
"""Errors of a kept-alive connection the server closed meanwhile: worth one immediate new connection."""


@dataclass(frozen=True)
class Reply:
    """What one POST came to: a status, or the error that prevented one."""

    status: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth another try later: no answer at all, or the server asked to come back."""
        return self.status is None or self.status in _RETRYABLE_STATUS


class HttpSender:
    """POSTs protobuf payloads to one URL. Thread-safe; forget connections in a forked child."""

    def __init__(self, route: Route) -> None:
        parts = urlsplit(route.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._gzip = route.compression == "gzip"
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": _USER_AGENT}
        self._headers.update(dict(route.headers))
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._route = route
        self._tls: ssl.SSLContext | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._aborted = False

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = ssl.create_default_context(cafile=self._route.certificate)
            if self._route.client_certificate:
                context.load_cert_chain(self._route.client_certificate, self._route.client_key)
            self._tls = context
        return self._tls

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            context = self._context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def post(self, payload: bytes, timeout: float) -> Reply:
        """Send one payload, waiting at most ``timeout`` seconds for the answer."""
        body = gzip.compress(payload, compresslevel=6) if self._gzip else payload
        if self._pid != os.getpid():
            self._forget()
        with self._lock:
            for attempt in (0, 1):
                reused = self._connection is not None
                try:
                    if self._connection is None:
                        self._connection = self._connect(max(timeout, 0.001))
                    elif self._connection.sock is not None:
                        self._connection.sock.settimeout(max(timeout, 0.001))
                    self._connection.request("POST", self._path, body=body, headers=self._headers)
                    response = self._connection.getresponse()
                    response.read()
                    if response.will_close:
                        self._close()
                    return Reply(response.status, response.reason or "")
                except (http.client.HTTPException, OSError, ValueError) as error:
                    self._close()
                    if self._aborted:
                        return Reply(None, "no answer before the app ended")
                    if attempt == 0 and reused and isinstance(error, _STALE):
                        continue
                    return Reply(None, _describe(error))
        return Reply(None, "no answer")

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken socket may fail; it is gone either way
                connection.close()

    def _forget(self) -> None:
        """In a forked child: close our copy of the parent's socket (the parent's stays open)."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._close()

    def after_fork_in_child(self) -> None:
        self._forget()

    def abort(self) -> None:
        """End a request in flight now, from any thread: its wait for an answer returns at once."""
        self._aborted = True
        connection = self._connection
        sock = connection.sock if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Abort what is in flight and release the connection; never waits for a request."""
        self.abort()
        if self._lock.acquire(timeout=0.1):
            try:
                self._close()
            finally:
                self._lock.release()


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error) or type(error).__name__
    return text if len(text) < 200 else text[:197] + "..."
