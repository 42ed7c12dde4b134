"""What both example apps share: the sqlite catalogue, the upstream's address and the httpbin-style echo.

The apps stay framework code only; this module is plain Python so each app reads like a user's own.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DB_ENV",
    "UPSTREAM_ENV",
    "connect",
    "database_path",
    "echo",
    "fetch_item",
    "list_items",
    "query",
    "seed",
    "upstream_down",
    "upstream_url",
]

DB_ENV: Final = "EXAMPLES_DB"
"""Path of the sqlite file; default: obs-examples.sqlite3 in the system's temporary folder."""

UPSTREAM_ENV: Final = "EXAMPLES_UPSTREAM_URL"
"""Base URL of the upstream stock service (``python -m examples.upstream``)."""

DEFAULT_UPSTREAM: Final = "http://127.0.0.1:8090"

ITEMS: Final = (
    (1, "teapot", 1999),
    (2, "kettle", 3450),
    (3, "mug", 650),
    (4, "tray", 1200),
    (5, "strainer", 480),
)


def database_path() -> Path:
    configured = os.environ.get(DB_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "obs-examples.sqlite3"


def connect() -> sqlite3.Connection:
    """A connection per request, as small sqlite apps do (``sqlite3.connect`` is what gets traced)."""
    connection = sqlite3.connect(database_path(), timeout=5.0)
    connection.row_factory = sqlite3.Row
    return connection


def seed() -> None:
    """Create and fill the catalogue once; safe when several workers start at the same time.

    It opens ``sqlite3.Connection`` directly rather than through ``sqlite3.connect`` so that start-up does not
    show up as traces of its own next to the requests.
    """
    path = database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.Connection(path, timeout=5.0)
    try:
        with connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS items"
                " (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL)"
            )
            connection.executemany("INSERT OR IGNORE INTO items VALUES (?, ?, ?)", ITEMS)
    finally:
        connection.close()


def query(sql: str, parameters: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows as dicts, read through a cursor: the sqlite3 instrumentation traces cursors, not shortcuts."""
    connection = connect()
    try:
        cursor = connection.cursor()
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        connection.close()
    return [dict(row) for row in rows]


def fetch_item(item_id: int) -> dict[str, Any] | None:
    rows = query("SELECT id, name, price_cents FROM items WHERE id = ?", (item_id,))
    return rows[0] if rows else None


def list_items() -> list[dict[str, Any]]:
    return query("SELECT id, name, price_cents FROM items ORDER BY id")


def upstream_url() -> str:
    return os.environ.get(UPSTREAM_ENV, DEFAULT_UPSTREAM).rstrip("/")


def upstream_down(url: str, error: Exception) -> dict[str, str]:
    """The 502 body when the upstream does not answer: what failed and how to fix it."""
    return {
        "error": f"upstream {url} unavailable: {type(error).__name__}",
        "fix": f"start it with `python -m examples.upstream` or set {UPSTREAM_ENV}",
    }


def echo(
    args: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]], origin: str, url: str
) -> dict[str, Any]:
    """The body of httpbin's ``/get``: the query arguments, the request headers, the caller and the URL."""
    return {"args": dict(args), "headers": dict(headers), "origin": origin, "url": url}
