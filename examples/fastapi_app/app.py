"""A small FastAPI shop: sqlite, an outgoing call with httpx, loguru and stdlib logging, a route that fails.

Routes: ``/get`` (httpbin's echo, the benchmark's typical endpoint), ``/items``, ``/items/{item_id}``,
``/items/{item_id}/stock`` (calls the upstream service), ``/fail`` (always 500).
Nothing here knows about obs: run it under ``obs run -- uvicorn examples.fastapi_app.app:app``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from loguru import logger

from examples import shop

log = logging.getLogger("examples.fastapi_app")


def create_app() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shop.seed()
    app = FastAPI(title="obs FastAPI example")

    @app.get("/get")
    async def get(request: Request) -> dict[str, Any]:
        origin = request.client.host if request.client else ""
        return shop.echo(request.query_params.items(), request.headers.items(), origin, str(request.url))

    @app.get("/items")
    def items() -> list[dict[str, Any]]:
        return shop.list_items()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, Any]:
        found = shop.fetch_item(item_id)
        if found is None:
            logger.bind(item_id=item_id).warning("item {} not found", item_id)
            raise HTTPException(status_code=404, detail=f"no item {item_id}")
        logger.bind(item_id=item_id).info("item {} viewed", item_id)
        return found

    @app.get("/items/{item_id}/stock", response_model=None)
    async def stock(item_id: int) -> dict[str, Any] | JSONResponse:
        found = await run_in_threadpool(shop.fetch_item, item_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no item {item_id}")
        url = f"{shop.upstream_url()}/stock/{item_id}"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                answer = await client.get(url)
                answer.raise_for_status()
        except httpx.HTTPError as error:
            log.error("stock lookup for item %s failed: %s", item_id, error)
            return JSONResponse(shop.upstream_down(url, error), status_code=502)
        log.info("stock of item %s: %s", item_id, answer.json()["in_stock"])
        return {**found, **answer.json()}

    @app.get("/fail")
    async def fail() -> None:
        logger.error("about to fail on purpose")
        raise RuntimeError("simulated failure: this route always fails")

    return app


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
