"""A short app that makes telemetry of every signal, then ends: the bench times how long its process lingers.

It serves HTTP on loopback in a thread and calls itself with urllib (client spans and duration metrics under
either agent), and logs warnings through stdlib logging. ``APP_END`` on stdout marks the moment the app's own
work is over; everything after it is the agent's shutdown (flushing exports to a peer that may not answer).

Usage: ``python bench/exit_app.py SECONDS``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        payload = b'{"hello": "world"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


def main(seconds: float) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hello"
    log = logging.getLogger("exit-app")
    deadline = time.monotonic() + seconds
    calls = 0
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
        calls += 1
        if calls % 20 == 0:
            log.warning("made %d calls", calls)
        time.sleep(0.01)
    server.shutdown()
    print("APP_END", flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
