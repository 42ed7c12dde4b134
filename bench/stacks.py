"""Charging py-spy samples to the parts of the telemetry stack (pure: collapsed stacks in, counts out).

A sample is charged, walking its stack from the innermost frame outwards, to the first frame that is either
OpenTelemetry/obs code (its category below) or a boundary where the framework or server takes over again (the
app's own work, even though an instrumentation middleware sits further out). Library code called *by* the
instrumentation (werkzeug's request proxies, os.environ reads) is thereby the instrumentation's cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

CATEGORIES = (
    ("OTLP exporter (encode + HTTP)",
     ("opentelemetry/exporter/", "google/protobuf", "requests/", "urllib3/", "agent/_otlp/",
      "agent/_export/")),
    ("batch processors (queue, thread)",
     ("opentelemetry/sdk/trace/export", "opentelemetry/sdk/_logs/export",
      "opentelemetry/sdk/_shared_internal")),
    ("metrics SDK (record, aggregate)", ("opentelemetry/sdk/metrics",)),
    ("logs SDK / bridge",
     ("opentelemetry/sdk/_logs", "opentelemetry/instrumentation/logging", "agent/_logs", "obs/agent/_logs")),
    ("span SDK (create, attributes, end)",
     ("opentelemetry/sdk/trace", "opentelemetry/sdk/util", "opentelemetry/attributes")),
    ("API, context, propagation",
     ("opentelemetry/context", "opentelemetry/propagat", "opentelemetry/trace", "opentelemetry/baggage",
      "opentelemetry/util", "opentelemetry/metrics", "opentelemetry/semconv", "opentelemetry/_")),
    ("instrumentation middleware", ("opentelemetry/instrumentation/",)),
    ("obs agent (other)", ("obs/agent/", "/agent/")),
)
# (function name, file) where the framework or the server takes over from an instrumentation wrapper.
BOUNDARIES = (
    ("wsgi_app", "flask/app.py"),
    ("__call__", "starlette/middleware/errors.py"),
    ("__call__", "starlette/middleware/exceptions.py"),
    ("send", "uvicorn/protocols/"),
    ("receive", "uvicorn/protocols/"),
)
APP = "app + framework + server"
BACKGROUND = ("batch processors (queue, thread)", "OTLP exporter (encode + HTTP)")
_ROOT = str(Path(__file__).resolve().parent.parent)


def short(path: str) -> str:
    """A file path from its package down (site-packages and the repository stripped)."""
    for marker in ("site-packages/", f"{_ROOT}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def charge(frames: Sequence[str]) -> tuple[str, str]:
    """(category, function) one sample is charged to; frames root first, as py-spy's ``name (file:line)``.
    The function is empty for the app."""
    for frame in reversed(frames):
        name, _, where = frame.partition(" (")
        if any(name.rsplit(".", 1)[-1] == boundary and path in where for boundary, path in BOUNDARIES):
            return APP, ""
        for category, needles in CATEGORIES:
            if any(needle in where for needle in needles):
                return category, f"{name} ({short(where.rsplit(':', 1)[0])})"
    return APP, ""


def breakdown(raw: str) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """py-spy ``record --format raw --threads`` output -> (samples per category on the request thread, per
    category on all other threads, per OpenTelemetry/obs function on the request thread).

    The request thread is the one with the most samples outside batch processors and exporters."""
    threads: dict[str, list[tuple[tuple[str, str], int]]] = {}
    for line in raw.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        thread, *frames = stack.split(";")
        threads.setdefault(thread, []).append((charge(frames), int(samples)))
    main = max(threads, key=lambda t: sum(n for (c, _), n in threads[t] if c not in BACKGROUND), default="")
    on_main: Counter[str] = Counter()
    elsewhere: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for thread, charged in threads.items():
        for (category, function), count in charged:
            (on_main if thread == main else elsewhere)[category] += count
            if thread == main and function:
                functions[function] += count
    return on_main, elsewhere, functions
