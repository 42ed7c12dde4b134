"""How to serve each example app as a user would (gunicorn for Flask, uvicorn for FastAPI), for the demo and
the tests: the command line, a free port, and waiting until the app answers.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["APPS", "ROOT", "ExampleApp", "free_port", "wait_until_answers", "wait_until_listening"]

ROOT: Final = Path(__file__).resolve().parent.parent
"""The repository: on ``PYTHONPATH`` (or the working directory) so that ``examples`` imports."""

_BIN: Final = Path(sys.executable).parent


@dataclass(frozen=True)
class ExampleApp:
    """One example: its import target and the server that runs it."""

    name: str
    target: str
    server: str

    def command(self, port: int, workers: int = 1) -> list[str]:
        if self.server == "gunicorn":
            return [str(_BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", self.target]
        return [str(_BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
                *(["--workers", str(workers)] if workers > 1 else []), self.target]


APPS: Final = {
    "flask": ExampleApp("flask", "examples.flask_app.app:app", "gunicorn"),
    "fastapi": ExampleApp("fastapi", "examples.fastapi_app.app:app", "uvicorn"),
}


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Return once ``port`` takes connections, without a request (a test counting requests counts only its
    own: a readiness request that times out while a worker boots is retried, and both are served);
    RuntimeError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the app did not listen on {port} within {timeout_s:.0f} s")


def wait_until_answers(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Return once ``url`` answers with any status; RuntimeError if the process exits or time runs out.

    A request that got through waits for its answer as long as time is left, rather than timing out and
    asking again: on a slow machine a short timeout would send (and the app count) several probes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=max(0.5, deadline - time.monotonic())):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"the app did not answer {url} within {timeout_s:.0f} s")
