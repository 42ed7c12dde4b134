"""The example's Celery tasks: a worker runs them with `obs run -- celery -A examples.tasks worker`.

The broker (and result backend) is ``EXAMPLES_BROKER_URL`` (a Redis URL); ``EXAMPLES_BEAT_SECONDS`` puts
``tick`` on a beat schedule. ``charge`` fails for odd amounts and ``reserve`` retries once: the dashboards and
alerts have failures and retries to show. ``pack`` takes a while, as real work does: two enqueued together
keep two worker processes busy at once. Nothing here knows about obs.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

from celery import Celery, Task

BROKER_ENV: Final = "EXAMPLES_BROKER_URL"
BEAT_ENV: Final = "EXAMPLES_BEAT_SECONDS"

app = Celery("examples.tasks", broker=os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0"))
app.conf.update(
    result_backend=os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0"),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=False,
)
if os.environ.get(BEAT_ENV):
    app.conf.beat_schedule = {
        "tick": {"task": "examples.tasks.tick", "schedule": float(os.environ[BEAT_ENV])},
    }


@app.task
def tick() -> str:
    return "tick"


@app.task
def send_receipt(order_id: int) -> int:
    return order_id


@app.task
def charge(amount_cents: int) -> int:
    if amount_cents % 2:
        raise ValueError(f"card declined for {amount_cents}")
    return amount_cents


@app.task
def pack(order_id: int) -> int:
    time.sleep(0.3)
    return order_id


@app.task(bind=True, max_retries=1, default_retry_delay=0)
def reserve(self: Task[Any, Any], item_id: int) -> int:
    if self.request.retries == 0:
        raise self.retry()
    return item_id
