"""The example's PostgreSQL side: orders read through SQLAlchemy 2 over psycopg 3, and a task per order.

The engine is made when this module is imported, as most apps do (the case obs must not miss).
``EXAMPLES_DATABASE_URL`` names the database (``postgresql+psycopg://user@host:port/db``); without it the
order routes answer 503. The task goes to Celery's broker (``EXAMPLES_BROKER_URL``, see examples.tasks).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["DATABASE_ENV", "configured", "fetch_order", "notify"]

DATABASE_ENV: Final = "EXAMPLES_DATABASE_URL"

_URL = os.environ.get(DATABASE_ENV, "")
engine: Engine | None = None
if _URL:  # SQLAlchemy only loads when a database is configured: the example's other routes start as before
    from sqlalchemy import create_engine

    engine = create_engine(_URL, pool_size=5)
_seeded = threading.Event()
_seed_lock = threading.Lock()


def configured() -> bool:
    return engine is not None


def _seed(database: Engine) -> None:
    """The orders table with a few rows, once per process; safe when several workers start together."""
    from sqlalchemy import text

    with _seed_lock:
        if _seeded.is_set():
            return
        with database.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(7)"))
            connection.execute(text(
                "CREATE TABLE IF NOT EXISTS orders"
                " (id int PRIMARY KEY, item text NOT NULL, cents int NOT NULL)"
            ))
            connection.execute(text(
                "INSERT INTO orders VALUES (1, 'teapot', 1999), (2, 'kettle', 3450), (3, 'mug', 650) "
                "ON CONFLICT (id) DO NOTHING"
            ))
        _seeded.set()


def fetch_order(order_id: int) -> dict[str, Any] | None:
    from sqlalchemy import text

    assert engine is not None
    _seed(engine)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT id, item, cents FROM orders WHERE id = :id"), {"id": order_id}
        ).mappings().first()
    return dict(row) if row is not None else None


def notify(order_id: int) -> str:
    """Enqueue the order's receipt (examples.tasks.send_receipt); the task id."""
    from examples import tasks

    return str(tasks.send_receipt.delay(order_id).id)
