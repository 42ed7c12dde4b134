"""A Flask app that fails in several ways, for the error-group tests (tests/test_errors_e2e.py).

- ``/pay``: PaymentDeclined raised in ``charge``, a helper of the app's, called by the view; its message
  holds a database URL with a password, which must never reach the telemetry;
- ``/lookup``: KeyError raised in the view itself;
- ``/parse``: json's JSONDecodeError, raised deep inside a library (flask.json, then json) called by the
  view: the group names the view;
- ``/handled``: a ValueError caught and logged with ``log.exception``; the request answers 200;
- ``/handled-loguru``: a ZeroDivisionError caught and logged with loguru's ``logger.exception``;
- ``/ok``: never fails.
"""

from __future__ import annotations

import logging

import flask
from loguru import logger

app = flask.Flask(__name__)
log = logging.getLogger("errors_app")


class PaymentDeclined(Exception):
    """The payment provider said no."""


def charge(cents: int) -> None:
    raise PaymentDeclined(f"{cents} cents declined by postgres://shop:hunter2@db.internal/payments")


@app.get("/ok")
def ok() -> str:
    return "ok"


@app.get("/pay")
def pay() -> str:
    charge(1250)
    return "paid"


@app.get("/lookup")
def lookup() -> str:
    prices: dict[str, int] = {}
    return str(prices["missing-item"])


@app.get("/parse")
def parse() -> str:
    return str(flask.json.loads("{not json"))


@app.get("/handled")
def handled() -> str:
    try:
        int("twelve")
    except ValueError:
        log.exception("could not read the quantity")
    return "handled"


@app.get("/handled-loguru")
def handled_loguru() -> str:
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        logger.exception("could not share the bill")
    return "handled"
