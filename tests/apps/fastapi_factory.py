"""The FastAPI counterpart of tests/apps/flaskr: an application factory (``uvicorn --factory``), a router, and
the sqlite3 module opened per request. ``FLASKR_DATABASE`` names the database file."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException

blog = APIRouter()


@blog.get("/posts/{post_id}")
def post(post_id: int) -> Any:
    with sqlite3.connect(os.environ["FLASKR_DATABASE"]) as db:
        row = db.execute("SELECT id, title FROM post WHERE id = ?", (post_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return {"id": row[0], "title": row[1]}


def create_app() -> FastAPI:
    with sqlite3.connect(os.environ["FLASKR_DATABASE"]) as db:
        db.execute("CREATE TABLE IF NOT EXISTS post (id INTEGER PRIMARY KEY, title TEXT)")
        db.execute("INSERT OR IGNORE INTO post VALUES (1, 'hello')")
    app = FastAPI()
    app.include_router(blog)
    return app
