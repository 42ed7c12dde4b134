"""An OTLP/HTTP peer that accepts every export, answers 200 and drops it: the cheapest possible collector.

It runs as its own process (``python -m bench.peer``) on asyncio, without decoding protobuf, so the app under
test pays the full cost of building and sending its exports while the peer takes almost no CPU and never holds
the app's GIL. It counts requests and body bytes per path; ``GET /stats`` returns them as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

_EMPTY_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
OTLP_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")


@dataclass
class Counts:
    """What the peer received, per path."""

    requests: Counter[str] = field(default_factory=Counter)
    body_bytes: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> bytes:
        return json.dumps({"requests": dict(self.requests), "bytes": dict(self.body_bytes)}).encode()


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    """Read and discard the request body; return its size (Content-Length or chunked)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        size = 0
        while True:
            chunk = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            await reader.readexactly(chunk + 2)
            size += chunk
            if chunk == 0:
                return size
    length = int(headers.get("content-length", "0"))
    await reader.readexactly(length)
    return length


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: Counts
) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                return
            method, path = request_line.decode("latin-1").split()[:2]
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            size = await _read_body(reader, headers)
            path = path.split("?")[0]
            if method == "GET" and path == "/stats":
                payload = counts.as_json()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            elif method == "POST" and path in OTLP_PATHS:
                counts.requests[path] += 1
                counts.body_bytes[path] += size
                writer.write(_EMPTY_200)
            else:
                writer.write(_NOT_FOUND)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def _main() -> None:
    counts = Counts()
    server = await asyncio.start_server(
        lambda reader, writer: _serve_connection(reader, writer, counts), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


class Peer:
    """The peer as a child process: ``with Peer() as peer:`` then point exporters at ``peer.endpoint``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Peer:
        self._process = subprocess.Popen(
            [sys.executable, __file__], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        first = self._process.stdout.readline().split()
        if len(first) != 2 or first[0] != "PORT":
            self._process.kill()
            raise RuntimeError("the OTLP peer did not start")
        self.port = int(first[1])
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def stats(self) -> dict[str, dict[str, int]]:
        """Requests and bytes received so far, per OTLP path."""
        with urllib.request.urlopen(f"{self.endpoint}/stats", timeout=5) as response:
            data: dict[str, dict[str, int]] = json.loads(response.read())
        return data


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
