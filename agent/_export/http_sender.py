"""OTLP/HTTP: one kept-alive connection per signal, over a plain socket (http) or ``http.client`` (https).

Why not the SDK's exporter: it imports ``requests`` (a heavy import, in every instrumented process) and
retries a refused connection six times with exponential backoff, logging each try - the retry spam and the
8-20 s exit delay of the zero-code agent. Here a request is tried once, plus one immediate retry when a
kept-alive connection turned out stale; what to do about failures is the caller's decision.

Why a plain-socket client for http: ``http.client`` imports ``ssl`` and ``email``, which a
short-lived process pays at its first export, often at its exit. OTLP needs one POST and its status: the
:class:`_PlainConnection` below writes that request and reads the answer (Content-Length, chunked or
until close). https goes through ``http.client``, which then loads with ``ssl``.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from obs.agent._config.routes import Route
from obs.agent._export.tcp import connect
from obs.agent._support.late_imports import load

if TYPE_CHECKING:
    import ssl

__all__ = ["HttpSender", "Reply"]

_USER_AGENT = "obs-agent OTLP/HTTP protobuf"
_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_STALE = (ConnectionResetError, BrokenPipeError)
"""Errors of a kept-alive connection the server closed meanwhile (http.client's RemoteDisconnected is a
ConnectionResetError too): worth one immediate new connection."""
_MAX_LINE = 65536
_MAX_HEADERS = 100


class _RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering (a stale kept-alive connection, usually)."""


class _Response:
    """The answer to one request, its body read: what :meth:`HttpSender.post` looks at."""

    def __init__(self, status: int, reason: str, will_close: bool) -> None:
        self.status = status
        self.reason = reason
        self.will_close = will_close

    def read(self) -> bytes:
        return b""


class _PlainConnection:
    """HTTP/1.1 over a plain TCP socket, kept alive: enough for OTLP's POST and its status."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._host_header = _host_header(host, port)
        # No codec import on the way for an ASCII host (obs.agent._export.tcp): a short script would pay for
        # it at its exit, and a fork could catch it half-done.
        self.sock: socket.socket | None = connect(host, port, timeout)

    def request(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}", "Accept-Encoding: identity",
                 f"Content-Length: {len(body)}"]
        for name, value in headers.items():
            if any(character in f"{name}{value}" for character in "\r\n\0"):
                raise ValueError(f"invalid header {name!r}")
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.sock is None:
            raise ConnectionResetError("the connection is closed")
        self.sock.sendall(head + body)  # one write: header and body apart would meet Nagle and delayed ACKs

    def getresponse(self) -> _Response:
        if self.sock is None:
            raise ConnectionResetError("the connection is closed")
        with self.sock.makefile("rb") as stream:
            while True:
                version, status, reason = _status_line(stream)
                headers = _headers(stream)
                if not 100 <= status < 200:
                    break
            connection = headers.get("connection", "").lower()
            will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                _skip_chunked(stream)
            elif "content-length" in headers:
                _skip_exactly(stream, int(headers["content-length"]))
            elif status not in (204, 304):
                stream.read()  # delimited by the end of the connection
                will_close = True
        return _Response(status, reason, will_close)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


def _host_header(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == 80 else f"{shown}:{port}"


def _line(stream: BinaryIO) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ValueError("the answer has a line too long")
    return line


def _status_line(stream: BinaryIO) -> tuple[str, int, str]:
    line = _line(stream)
    if not line:
        raise _RemoteDisconnected("the server closed the connection without answering")
    version, _, rest = line.decode("latin-1").strip().partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"not an HTTP answer: {line[:40]!r}")
    return version, int(code), reason


def _headers(stream: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        line = _line(stream)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("the answer has too many headers")


def _skip_exactly(stream: BinaryIO, size: int) -> None:
    if size < 0:
        raise ValueError(f"the answer has a negative length ({size})")
    if size and len(stream.read(size)) < size:
        raise _RemoteDisconnected("the server closed the connection in the middle of its answer")


def _skip_chunked(stream: BinaryIO) -> None:
    while True:
        size_text = _line(stream).split(b";")[0].strip()
        if not size_text:
            raise _RemoteDisconnected("the server closed the connection in the middle of its answer")
        size = int(size_text, 16)
        if size == 0:
            _headers(stream)  # trailers, up to the blank line
            return
        _skip_exactly(stream, size + 2)


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


@functools.cache
def _tls_connection_class(client: Any) -> type:
    """``http.client.HTTPSConnection`` whose TCP connection is opened by :func:`obs.agent._export.tcp.connect`
    (so that a fork on another thread cannot catch a name resolution half-done), then wrapped in TLS for the
    host's name, as ``HTTPSConnection.connect`` does without a proxy tunnel. Made once, at the first https
    connection (``http.client`` is loaded late)."""

    class TlsConnection(client.HTTPSConnection):  # type: ignore[misc]
        def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext) -> None:
            super().__init__(host, port, timeout=timeout, context=context)
            self.tls_context = context

        def connect(self) -> None:
            plain = connect(self.host, self.port, self.timeout)
            try:
                self.sock = self.tls_context.wrap_socket(plain, server_hostname=self.host)
            except BaseException:
                plain.close()
                raise

    return TlsConnection


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
        self._connection: Any = None
        """A :class:`_PlainConnection`, or ``http.client.HTTPSConnection`` for https."""
        self._failures: tuple[type[Exception], ...] = (OSError, ValueError)
        self._lock = threading.Lock()
        self._aborted = False

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            context: ssl.SSLContext = load("ssl").create_default_context(cafile=self._route.certificate)
            if self._route.client_certificate:
                context.load_cert_chain(self._route.client_certificate, self._route.client_key)
            self._tls = context
        return self._tls

    def _connect(self, timeout: float) -> Any:
        if self._https:
            client = load("http.client")  # with ssl: only a process that exports over https pays for them
            self._failures = (OSError, ValueError, client.HTTPException)
            return _tls_connection_class(client)(self._host, self._port, timeout=timeout,
                                                 context=self._context())
        return _PlainConnection(self._host, self._port, timeout)

    def post(self, payload: bytes, timeout: float) -> Reply:
        """Send one payload, waiting at most ``timeout`` seconds for the answer."""
        body = load("gzip").compress(payload, compresslevel=6) if self._gzip else payload
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            return Reply(None, "the connection was busy with another export until the deadline")
        try:
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
                except self._failures as error:
                    self._close()
                    if self._aborted:
                        return Reply(None, "no answer before the app ended")
                    if attempt == 0 and reused and isinstance(error, _STALE):
                        continue
                    return Reply(None, _describe(error))
        finally:
            self._lock.release()
        return Reply(None, "no answer")

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken socket may fail; it is gone either way
                connection.close()

    def _forget(self) -> None:
        """In a forked child: close our copy of the parent's socket (the parent's stays open)."""
        self._lock = threading.Lock()
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
