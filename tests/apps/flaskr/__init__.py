"""An app in the shape of Flask's own tutorial (flaskr): an application factory, a blueprint, and the sqlite3
module opened per request on ``g`` and closed at teardown. ``FLASKR_DATABASE`` names the database file."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, jsonify

blog = Blueprint("blog", __name__)


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
    db: sqlite3.Connection = g.db
    return db


@blog.route("/posts/<int:post_id>")
def post(post_id: int) -> Any:
    row = get_db().execute("SELECT id, title FROM post WHERE id = ?", (post_id,)).fetchone()
    if row is None:
        abort(404)
    return jsonify(id=row["id"], title=row["title"])


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DATABASE=os.environ["FLASKR_DATABASE"])
    with sqlite3.connect(app.config["DATABASE"]) as db:
        db.execute("CREATE TABLE IF NOT EXISTS post (id INTEGER PRIMARY KEY, title TEXT)")
        db.execute("INSERT OR IGNORE INTO post VALUES (1, 'hello')")

    @app.teardown_appcontext
    def close_db(error: BaseException | None = None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    app.register_blueprint(blog)
    return app
