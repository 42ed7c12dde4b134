"""A small Flask shop: sqlite, an outgoing call with requests, loguru and stdlib logging, a route that fails.

Routes: ``/get`` (httpbin's echo, the benchmark's typical endpoint), ``/items``, ``/items/<id>``,
``/items/<id>/stock`` (calls the upstream service), ``/fail`` (always 500); with PostgreSQL and Redis
configured (examples.orders, examples.tasks): ``/orders/<id>`` (a SQLAlchemy read) and ``/orders/<id>/notify``
(enqueues a Celery task, 202).
Nothing here knows about obs: run it under ``obs run -- gunicorn examples.flask_app.app:app``.
"""

from __future__ import annotations

import logging
import os

import requests
from flask import Flask, Response, jsonify, request
from loguru import logger

from examples import orders, shop

log = logging.getLogger("examples.flask_app")


def create_app() -> Flask:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shop.seed()
    app = Flask(__name__)

    @app.get("/get")
    def get() -> Response:
        origin = request.remote_addr or ""
        return jsonify(shop.echo(request.args.items(), request.headers.items(), origin, request.url))

    @app.get("/items")
    def items() -> Response:
        return jsonify(shop.list_items())

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> tuple[Response, int]:
        found = shop.fetch_item(item_id)
        if found is None:
            logger.bind(item_id=item_id).warning("item {} not found", item_id)
            return jsonify({"error": f"no item {item_id}"}), 404
        logger.bind(item_id=item_id).info("item {} viewed", item_id)
        return jsonify(found), 200

    @app.get("/items/<int:item_id>/stock")
    def stock(item_id: int) -> tuple[Response, int]:
        found = shop.fetch_item(item_id)
        if found is None:
            return jsonify({"error": f"no item {item_id}"}), 404
        url = f"{shop.upstream_url()}/stock/{item_id}"
        try:
            answer = requests.get(url, timeout=2.0)
            answer.raise_for_status()
        except requests.RequestException as error:
            log.error("stock lookup for item %s failed: %s", item_id, error)
            return jsonify(shop.upstream_down(url, error)), 502
        log.info("stock of item %s: %s", item_id, answer.json()["in_stock"])
        return jsonify({**found, **answer.json()}), 200

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> tuple[Response, int]:
        if not orders.configured():
            return jsonify({"error": f"set {orders.DATABASE_ENV} to a PostgreSQL URL"}), 503
        found = orders.fetch_order(order_id)
        if found is None:
            return jsonify({"error": f"no order {order_id}"}), 404
        return jsonify(found), 200

    @app.get("/orders/<int:order_id>/notify")
    def notify(order_id: int) -> tuple[Response, int]:
        return jsonify({"task": orders.notify(order_id)}), 202

    @app.get("/fail")
    def fail() -> Response:
        logger.error("about to fail on purpose")
        raise RuntimeError("simulated failure: this route always fails")

    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
