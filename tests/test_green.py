"""Which processes obs monkey-patches before it starts: only a Celery worker started with a green pool."""

from __future__ import annotations

import pytest
from obs.agent._integrations.celery_pools import green_pool


@pytest.mark.parametrize(("argv", "pool"), [
    (["/venv/bin/python", "/venv/bin/celery", "-A", "tasks", "worker", "-P", "gevent"], "gevent"),
    (["python", "-m", "celery", "-A", "tasks", "worker", "--pool=eventlet"], "eventlet"),
    (["python", "-m", "celery", "-A", "tasks", "worker", "--pool", "gevent", "-c", "100"], "gevent"),
    (["celery", "worker", "-Pgevent"], "gevent"),
    (["python", "-m", "celery", "-A", "tasks", "worker", "-P", "prefork"], None),
    (["python", "-m", "celery", "-A", "tasks", "worker", "-P", "threads"], None),
    (["python", "-m", "celery", "-A", "tasks", "beat"], None),
    (["gunicorn", "-k", "gevent", "app:app"], None),
    (["python", "app.py", "worker", "-P", "gevent"], None),
])
def test_green_pool_is_read_from_a_celery_worker_command_line(argv: list[str], pool: str | None) -> None:
    """gevent/eventlet only for ``celery ... worker`` with that pool; any other command is left alone."""
    assert green_pool(argv) == pool
