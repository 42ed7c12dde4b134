"""A FastAPI app that fails in a few ways, for the error-group tests of the contrib instrumentations
(tests/test_errors_e2e.py): under uvicorn, an exception that leaves the app ends the ASGI middleware's span on
its way out and is then logged by uvicorn ("Exception in ASGI application"), outside any span.

- ``/pay``: PaymentDeclined raised in ``charge``, a helper of the app's, called by the view;
- ``/lookup``: KeyError raised in the view itself;
- ``/handled``: a ValueError caught and logged with ``log.exception``; the request answers 200;
- ``/ok``: never fails.
"""

from __future__ import annotations

import logging

import fastapi

app = fastapi.FastAPI()
log = logging.getLogger("errors_asgi")


class PaymentDeclined(Exception):
    """The payment provider said no."""


def charge(cents: int) -> None:
    raise PaymentDeclined(f"{cents} cents declined")


@app.get("/ok")
async def ok() -> str:
    return "ok"


@app.get("/pay")
async def pay() -> str:
    charge(1250)
    return "paid"


@app.get("/lookup")
async def lookup() -> str:
    prices: dict[str, int] = {}
    return str(prices["missing-item"])


@app.get("/handled")
async def handled() -> str:
    try:
        int("twelve")
    except ValueError:
        log.exception("could not read the quantity")
    return "handled"
