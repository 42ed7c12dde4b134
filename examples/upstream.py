"""The upstream service the example apps call: stock levels over HTTP, standard library only.

A separate process (or thread) on purpose: a sync gunicorn worker that called its own app would wait for
itself. ``python -m examples.upstream [--port 8090]``; ``GET /stock/<id>`` answers after a few milliseconds
that depend on the id, so some traces are slower than others.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

__all__ = ["Upstream", "main"]

_STOCK: Final = re.compile(r"/stock/(\d+)")


def delay_s(item_id: int) -> float:
    """5 ms to 45 ms, by item: the slow items make the slowest traces."""
    return 0.005 + (item_id % 5) * 0.01


class _Handler(BaseHTTPRequestHandler):
    server_version = "examples-upstream/1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._reply(200, {"status": "ok"})
            return
        match = _STOCK.fullmatch(path)
        if match is None:
            self._reply(404, {"error": f"no route {path}"})
            return
        item_id = int(match.group(1))
        time.sleep(delay_s(item_id))
        self._reply(200, {"item_id": item_id, "in_stock": (item_id * 7) % 11})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the apps' own logs are what the demo is about."""


class Upstream:
    """The server on a background thread: ``with Upstream() as upstream: upstream.url``. Port 0 picks one."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="upstream", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    try:
        server = ThreadingHTTPServer((args.host, args.port), _Handler)
    except OSError as error:
        print(f"upstream: cannot listen on {args.host}:{args.port}: {error.strerror}; pick another --port",
              file=sys.stderr)
        return 1
    print(f"upstream: listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
