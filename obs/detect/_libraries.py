"""The one table from libraries a project uses to the OpenTelemetry instrumentations that trace them.

A library is recognised by its distribution names (as declared in dependency lists, normalised the PEP 503
way) and by the modules its users import. Unlike ``opentelemetry-bootstrap``, which turns on whatever is
installed and whatever an instrumentation merely lists (tortoiseorm for any project with pydantic), a library
here maps only to the instrumentations that trace that library's own calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["INSTRUMENTATION_PACKAGES", "LIBRARIES", "Library", "by_distribution", "by_module", "normalize"]


@dataclass(frozen=True)
class Library:
    """One library obs recognises, and what to do when a project uses it."""

    key: str
    kind: str
    distributions: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    instrumentations: tuple[str, ...] = ()
    covered_by: tuple[str, ...] = ()
    """Instrumentations that already trace this library's work when the project only declares it (a
    database driver under SQLAlchemy): a second instrumentation would double every span."""
    covered_even_if_imported: bool = False
    """True when a direct import does not change that (Starlette imports in a FastAPI app)."""
    note: str = ""
    """For libraries without an instrumentation: what obs does about them instead."""


_SERVER_NOTE = "no instrumentation of its own; `obs run` instruments the app in its workers"
_DRIVERS_UNDER_SQLALCHEMY = ("psycopg", "psycopg2", "asyncpg", "pymysql", "mysqlclient", "mysql", "pymssql")
"""SQLAlchemy's queries are traced at the driver under it: one span per query, and engines made before the
agent loaded are covered too (obs.agent._integrations.database). SQLAlchemy's own instrumentation is chosen
only when no driver is found (the agent then serves it through the installed drivers' instrumentations)."""
_UNDER_DJANGO = ("django",)
"""Drivers Django's ORM drives: obs's django instrumentation records every ORM query itself
(obs.agent._traces.django_db), so the driver's own instrumentation is left off unless the project calls the
driver directly (or SQLAlchemy too, whose queries are traced at the driver)."""

LIBRARIES: Final[tuple[Library, ...]] = (
    # Web frameworks.
    Library("django", "web framework", ("django",), ("django",), ("django",)),
    Library("fastapi", "web framework", ("fastapi",), ("fastapi",), ("fastapi",)),
    Library("flask", "web framework", ("flask",), ("flask",), ("flask",)),
    Library(
        "starlette",
        "web framework",
        ("starlette",),
        ("starlette",),
        ("starlette",),
        covered_by=("fastapi",),
        covered_even_if_imported=True,
    ),
    Library("falcon", "web framework", ("falcon",), ("falcon",), ("falcon",)),
    Library("pyramid", "web framework", ("pyramid",), ("pyramid",), ("pyramid",)),
    Library("tornado", "web framework", ("tornado",), ("tornado",), ("tornado",)),
    Library("aiohttp.web", "web framework", (), ("aiohttp.web",), ("aiohttp-server",)),
    # Servers: nothing to instrument, but they decide how the app is started.
    Library("gunicorn", "server", ("gunicorn",), ("gunicorn",), note=_SERVER_NOTE),
    Library("uvicorn", "server", ("uvicorn",), ("uvicorn",), note=_SERVER_NOTE),
    Library("hypercorn", "server", ("hypercorn",), ("hypercorn",), note=_SERVER_NOTE),
    Library("waitress", "server", ("waitress",), ("waitress",), note=_SERVER_NOTE),
    Library("daphne", "server", ("daphne",), ("daphne",), note=_SERVER_NOTE),
    # HTTP clients.
    Library("requests", "HTTP client", ("requests",), ("requests",), ("requests",)),
    Library("httpx", "HTTP client", ("httpx",), ("httpx",), ("httpx",)),
    Library("aiohttp", "HTTP client", ("aiohttp",), ("aiohttp",), ("aiohttp-client",)),
    Library("urllib3", "HTTP client", ("urllib3",), ("urllib3",), ("urllib3",), covered_by=("requests",)),
    Library("urllib.request", "HTTP client", (), ("urllib.request",), ("urllib",)),
    # RPC and cloud SDKs.
    Library("grpcio", "RPC", ("grpcio",), ("grpc",), ("grpc_client", "grpc_server")),
    Library("grpc.aio", "RPC", (), ("grpc.aio",), ("grpc_aio_client", "grpc_aio_server")),
    Library(
        "boto3",
        "AWS SDK",
        ("boto3", "botocore", "aiobotocore"),
        ("boto3", "botocore", "aiobotocore"),
        ("botocore",),
    ),
    # ORMs and database drivers.
    Library(
        "sqlalchemy",
        "ORM",
        ("sqlalchemy", "flask-sqlalchemy", "sqlmodel"),
        ("sqlalchemy", "flask_sqlalchemy", "sqlmodel"),
        ("sqlalchemy",),
        covered_by=_DRIVERS_UNDER_SQLALCHEMY,
        covered_even_if_imported=True,
    ),
    Library("tortoise-orm", "ORM", ("tortoise-orm",), ("tortoise",), ("tortoiseorm",)),
    Library("sqlite3", "database driver", (), ("sqlite3",), ("sqlite3",), covered_by=_UNDER_DJANGO),
    Library(
        "psycopg2",
        "database driver",
        ("psycopg2", "psycopg2-binary"),
        ("psycopg2",),
        ("psycopg2",),
        covered_by=_UNDER_DJANGO,
    ),
    Library(
        "psycopg", "database driver", ("psycopg",), ("psycopg",), ("psycopg",), covered_by=_UNDER_DJANGO
    ),
    Library(
        "asyncpg", "database driver", ("asyncpg",), ("asyncpg",), ("asyncpg",)
    ),
    Library("aiopg", "database driver", ("aiopg",), ("aiopg",), ("aiopg",)),
    Library(
        "pymysql", "database driver", ("pymysql",), ("pymysql",), ("pymysql",), covered_by=_UNDER_DJANGO
    ),
    Library(
        "mysqlclient",
        "database driver",
        ("mysqlclient",),
        ("MySQLdb",),
        ("mysqlclient",),
        covered_by=_UNDER_DJANGO,
    ),
    Library(
        "mysql-connector-python",
        "database driver",
        ("mysql-connector-python",),
        ("mysql.connector",),
        ("mysql",),
    ),
    Library(
        "pymssql", "database driver", ("pymssql",), ("pymssql",), ("pymssql",)
    ),
    Library("pymongo", "database driver", ("pymongo", "motor"), ("pymongo", "motor"), ("pymongo",)),
    Library(
        "cassandra-driver",
        "database driver",
        ("cassandra-driver", "scylla-driver"),
        ("cassandra",),
        ("cassandra",),
    ),
    # Caches.
    Library("redis", "cache", ("redis",), ("redis",), ("redis",)),
    Library("pymemcache", "cache", ("pymemcache",), ("pymemcache",), ("pymemcache",)),
    # Queues and task runners.
    Library("celery", "task queue", ("celery",), ("celery",), ("celery",)),
    Library("remoulade", "task queue", ("remoulade",), ("remoulade",), ("remoulade",)),
    Library("kafka-python", "queue", ("kafka-python",), ("kafka",), ("kafka",)),
    Library("confluent-kafka", "queue", ("confluent-kafka",), ("confluent_kafka",), ("confluent_kafka",)),
    Library("aiokafka", "queue", ("aiokafka",), ("aiokafka",), ("aiokafka",)),
    Library("pika", "queue", ("pika",), ("pika",), ("pika",)),
    Library("aio-pika", "queue", ("aio-pika",), ("aio_pika",), ("aio-pika",)),
    # Template engines.
    Library("jinja2", "template engine", ("jinja2",), ("jinja2",), ("jinja2",)),
)

INSTRUMENTATION_PACKAGES: Final[dict[str, str]] = {
    "aio-pika": "opentelemetry-instrumentation-aio-pika",
    "aiohttp-client": "opentelemetry-instrumentation-aiohttp-client",
    "aiohttp-server": "opentelemetry-instrumentation-aiohttp-server",
    "aiokafka": "opentelemetry-instrumentation-aiokafka",
    "aiopg": "opentelemetry-instrumentation-aiopg",
    "asyncpg": "opentelemetry-instrumentation-asyncpg",
    "botocore": "opentelemetry-instrumentation-botocore",
    "cassandra": "opentelemetry-instrumentation-cassandra",
    "celery": "opentelemetry-instrumentation-celery",
    "confluent_kafka": "opentelemetry-instrumentation-confluent-kafka",
    "django": "opentelemetry-instrumentation-django",
    "falcon": "opentelemetry-instrumentation-falcon",
    "fastapi": "opentelemetry-instrumentation-fastapi",
    "flask": "opentelemetry-instrumentation-flask",
    "grpc_aio_client": "opentelemetry-instrumentation-grpc",
    "grpc_aio_server": "opentelemetry-instrumentation-grpc",
    "grpc_client": "opentelemetry-instrumentation-grpc",
    "grpc_server": "opentelemetry-instrumentation-grpc",
    "httpx": "opentelemetry-instrumentation-httpx",
    "jinja2": "opentelemetry-instrumentation-jinja2",
    "kafka": "opentelemetry-instrumentation-kafka-python",
    "mysql": "opentelemetry-instrumentation-mysql",
    "mysqlclient": "opentelemetry-instrumentation-mysqlclient",
    "pika": "opentelemetry-instrumentation-pika",
    "psycopg": "opentelemetry-instrumentation-psycopg",
    "psycopg2": "opentelemetry-instrumentation-psycopg2",
    "pymemcache": "opentelemetry-instrumentation-pymemcache",
    "pymongo": "opentelemetry-instrumentation-pymongo",
    "pymssql": "opentelemetry-instrumentation-pymssql",
    "pymysql": "opentelemetry-instrumentation-pymysql",
    "pyramid": "opentelemetry-instrumentation-pyramid",
    "redis": "opentelemetry-instrumentation-redis",
    "remoulade": "opentelemetry-instrumentation-remoulade",
    "requests": "opentelemetry-instrumentation-requests",
    "sqlalchemy": "opentelemetry-instrumentation-sqlalchemy",
    "sqlite3": "opentelemetry-instrumentation-sqlite3",
    "starlette": "opentelemetry-instrumentation-starlette",
    "tornado": "opentelemetry-instrumentation-tornado",
    "tortoiseorm": "opentelemetry-instrumentation-tortoiseorm",
    "urllib": "opentelemetry-instrumentation-urllib",
    "urllib3": "opentelemetry-instrumentation-urllib3",
}
"""Entry point name (``opentelemetry_instrumentor``) -> the distribution that provides it."""


def normalize(name: str) -> str:
    """A distribution name the PEP 503 way, so ``Flask_SQLAlchemy`` and ``flask-sqlalchemy`` match."""
    return re.sub(r"[-_.]+", "-", name).lower()


_BY_DISTRIBUTION: Final = {dist: lib for lib in LIBRARIES for dist in lib.distributions}


def by_distribution(name: str) -> Library | None:
    """The library a declared distribution name stands for, if obs knows it."""
    return _BY_DISTRIBUTION.get(normalize(name))


def by_module(dotted: str) -> tuple[Library, ...]:
    """Every library an import of ``dotted`` uses: ``aiohttp.web`` is both aiohttp and its server."""
    return tuple(
        lib
        for lib in LIBRARIES
        for module in lib.modules
        if dotted == module or dotted.startswith(module + ".")
    )
