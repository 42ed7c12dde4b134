"""Database calls under `obs run`, against a real PostgreSQL and a real MariaDB: one client span per query
whichever way the app makes its engine (at import time, in an app factory, async) and whichever driver it goes
through (psycopg, psycopg2, asyncpg, PyMySQL, mysqlclient, sqlite3, and Django's ORM layer over mysqlclient),
failed queries as error spans, statements without their parameter values, and the stable
``db.client.operation.duration`` with the system, the operation, the collection and the server, whether or not
SQLAlchemy's own instrumentation was asked for.

A MySQL driver talking to MariaDB reports ``db.system.name = "mariadb"``, as the conventions ask for MariaDB
(the server says which it is in its handshake); contrib's instrumentations say ``mysql`` for both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otlp_receiver import MetricPoint, OTLPReceiver, Span
from tests.servers import MariaDB, PostgreSQL

SECRET = "s3cret-parameter-value"
"""A parameter value the app binds: it must appear in no span attribute."""

CLIENT, ERROR = 3, 2

COMMON = f"""
import os, sys
SECRET = {SECRET!r}
TABLE = os.environ["TABLE"]
"""

SYNC_QUERIES = """
def run(engine):
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id int primary key, name text)"))
        connection.execute(text(f"INSERT INTO {TABLE} VALUES (:id, :name)"), {"id": 1, "name": SECRET})
        print(connection.execute(text(f"SELECT name FROM {TABLE} WHERE id = :id"), {"id": 1}).scalar())
    try:
        with engine.connect() as connection:
            connection.execute(text(f"SELECT missing_column FROM {TABLE}"))
    except Exception as error:
        print("failed:", type(error).__name__)
"""

DRIVER_QUERIES = """
cursor = connection.cursor()
cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id int primary key, name text)")
cursor.execute(f"INSERT INTO {TABLE} VALUES (%s, %s)", (1, SECRET))
cursor.execute(f"SELECT name FROM {TABLE} WHERE id = %s", (1,))
print(cursor.fetchone()[0])
connection.commit()
try:
    cursor.execute(f"SELECT missing_column FROM {TABLE}")
except Exception as error:
    print("failed:", type(error).__name__)
"""
"""A driver's own cursor, in the ``%s`` paramstyle of psycopg2, PyMySQL and mysqlclient."""

MYSQL_CONNECT = """
connection = driver.connect(host=os.environ["DB_HOST"], port=int(os.environ["DB_PORT"]),
                            user=os.environ["DB_USER"], database=os.environ["DB_NAME"])
"""

APPS = {
    # The usual case: the engine is made when the module is imported, before any request.
    "import-time": COMMON + "from sqlalchemy import create_engine, text\n" + SYNC_QUERIES + """
engine = create_engine(os.environ["DB_URL"])
run(engine)
""",
    # An app factory: the engine is made later, inside a function.
    "factory": COMMON + "import sqlalchemy\nfrom sqlalchemy import text\n" + SYNC_QUERIES + """
def create_app():
    return sqlalchemy.create_engine(os.environ["DB_URL"])
run(create_app())
""",
    # An async engine, made at import time.
    "async": COMMON + """
import asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
engine = create_async_engine(os.environ["DB_URL"])
async def main():
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id int primary key, name text)"))
        await connection.execute(text(f"INSERT INTO {TABLE} VALUES (:id, :name)"), {"id": 1, "name": SECRET})
        found = await connection.execute(text(f"SELECT name FROM {TABLE} WHERE id = :id"), {"id": 1})
        print(found.scalar())
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"SELECT missing_column FROM {TABLE}"))
    except Exception as error:
        print("failed:", type(error).__name__)
    await engine.dispose()
asyncio.run(main())
""",
    # The drivers without an ORM.
    "psycopg2-raw": COMMON + """
import psycopg2
connection = psycopg2.connect(os.environ["DB_DSN"])
""" + DRIVER_QUERIES,
    "pymysql-raw": COMMON + "import pymysql as driver\n" + MYSQL_CONNECT + DRIVER_QUERIES,
    "mysqlclient-raw": COMMON + "import MySQLdb as driver\n" + MYSQL_CONNECT + DRIVER_QUERIES,
    # Django's ORM layer (its mysql backend runs on mysqlclient): obs records each query at Django's
    # execute_wrappers hook (obs.agent._traces.django_db), the driver's instrumentation stays off.
    "django-mysql": COMMON + """
import django
from django.conf import settings
settings.configure(DATABASES={"default": {
    "ENGINE": "django.db.backends.mysql", "NAME": os.environ["DB_NAME"], "USER": os.environ["DB_USER"],
    "HOST": os.environ["DB_HOST"], "PORT": os.environ["DB_PORT"]}})
django.setup()
from django.db import connection
""" + DRIVER_QUERIES,
    "sqlite3": COMMON + """
import sqlite3
connection = sqlite3.connect(":memory:")
connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id int primary key, name text)")
connection.execute(f"INSERT INTO {TABLE} VALUES (?, ?)", (1, SECRET))
print(connection.execute(f"SELECT name FROM {TABLE} WHERE id = ?", (1,)).fetchone()[0])
try:
    connection.execute(f"SELECT missing_column FROM {TABLE}")
except Exception as error:
    print("failed:", type(error).__name__)
""",
}

CASES = {
    # case: (app, SQLAlchemy URL driver, db.system.name, instrumentations asked for)
    "sqlalchemy-psycopg-import-time": ("import-time", "postgresql+psycopg", "postgresql", ""),
    "sqlalchemy-psycopg-sqlalchemy-asked": ("import-time", "postgresql+psycopg", "postgresql", "sqlalchemy"),
    "sqlalchemy-psycopg2-factory": ("factory", "postgresql+psycopg2", "postgresql", ""),
    "sqlalchemy-psycopg-async": ("async", "postgresql+psycopg", "postgresql", ""),
    "sqlalchemy-asyncpg": ("async", "postgresql+asyncpg", "postgresql", ""),
    "psycopg2": ("psycopg2-raw", "", "postgresql", ""),
    "sqlalchemy-pymysql-import-time": ("import-time", "mysql+pymysql", "mariadb", ""),
    "sqlalchemy-pymysql-sqlalchemy-asked": ("import-time", "mysql+pymysql", "mariadb", "sqlalchemy"),
    "sqlalchemy-mysqlclient-factory": ("factory", "mysql+mysqldb", "mariadb", ""),
    "pymysql": ("pymysql-raw", "", "mariadb", ""),
    "mysqlclient": ("mysqlclient-raw", "", "mariadb", ""),
    "django-mysql": ("django-mysql", "", "mariadb", ""),
    "sqlite3": ("sqlite3", "", "sqlite", ""),
}
SERVERS = {"postgresql": "postgresql", "mariadb": "mariadb", "sqlite": None}
"""db.system.name -> the server fixture the case runs against (sqlite3: none, an in-memory database)."""
NETWORKED = {"postgresql", "mariadb"}

Run = tuple[str, list[Span], list[MetricPoint]]


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def _server_environment(server: PostgreSQL | MariaDB | None, driver: str) -> dict[str, str]:
    if isinstance(server, PostgreSQL):
        return {"DB_URL": server.url(driver) if driver else "", "DB_DSN": server.dsn}
    if isinstance(server, MariaDB):
        return {"DB_URL": server.url(driver) if driver else "", "DB_HOST": server.host,
                "DB_PORT": str(server.port), "DB_USER": server.user, "DB_NAME": server.database}
    return {}


def _run(case: str, server: PostgreSQL | MariaDB | None, receiver: OTLPReceiver, folder: Path) -> Run:
    app, driver, _system, asked = CASES[case]
    service = f"db-{case}"
    table = f"items_{case.replace('-', '_')}"
    script = folder / f"app_{case.replace('-', '_')}.py"
    script.write_text(textwrap.dedent(APPS[app]), encoding="utf-8")
    environment = {
        **os.environ,
        **_server_environment(server, driver),
        "TABLE": table,
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OBS_INSTRUMENTATIONS": asked,
        "OTEL_TRACES_SAMPLER": "always_on",  # a dozen root spans in a second: keep them all
    }
    result = subprocess.run(
        [sys.executable, "-m", "obs", "run", "--", sys.executable, str(script)],
        env=environment, cwd=folder, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert SECRET in result.stdout and "failed:" in result.stdout, result.stdout + result.stderr
    spans = [span for span in receiver.spans() if span.resource.get("service.name") == service]
    points = [point for point in receiver.metric_points("db.client.operation.duration")
              if point.resource.get("service.name") == service]
    return table, spans, points


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """Each case's app runs once for the module, when its first test asks for it."""
    return {}


@pytest.fixture
def run(case: str, runs: dict[str, Run], receiver: OTLPReceiver, request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The case's table, spans and metric points; its server is started only when a case needs it."""
    if case not in runs:
        fixture = SERVERS[CASES[case][2]]
        server = request.getfixturevalue(fixture) if fixture else None
        runs[case] = _run(case, server, receiver, tmp_path_factory.mktemp("databases"))
    return runs[case]


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_client_span_per_query_named_after_operation_and_table(case: str, run: Run) -> None:
    """Each of the app's four statements gives exactly one client span (no ORM span doubling the driver's),
    named ``OPERATION table`` with the stable attributes."""
    table, spans, _points = run
    system = CASES[case][2]
    mine = [span for span in spans if table in str(span.attributes.get("db.query.text", ""))]
    names = sorted(span.name for span in mine)
    assert names == sorted([f"CREATE {table}", f"INSERT {table}", f"SELECT {table}", f"SELECT {table}"])
    assert all(span.kind == CLIENT for span in mine)
    if CASES[case][0] == "django-mysql":  # Django's hook records the queries, not the driver under it
        assert {span.scope for span in mine} == {"obs.agent.django.db"}
    assert not [span for span in spans if "sqlalchemy" in span.scope]
    for span in mine:
        assert span.attributes["db.system.name"] == system
        assert span.attributes["db.collection.name"] == table
        assert span.attributes["db.operation.name"] == span.name.split()[0]
        if system in NETWORKED and span.scope != "obs.asyncpg":  # obs's span of a failed asyncpg prepare
            assert span.attributes["server.address"] == "127.0.0.1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_failed_query_is_an_error_span_and_no_parameter_value_is_recorded(case: str, run: Run) -> None:
    """The query on a missing column is an error span; the bound secret appears in no span attribute."""
    table, spans, _points = run
    failed = [span for span in spans if "missing_column" in str(span.attributes.get("db.query.text", ""))]
    assert len(failed) == 1
    assert failed[0].status_code == ERROR
    for span in spans:
        assert SECRET not in repr(span.attributes), span
    assert table


@pytest.mark.parametrize("case", sorted(CASES))
def test_operation_duration_metric_carries_operation_collection_and_errors(case: str, run: Run) -> None:
    """``db.client.operation.duration`` counts the app's queries by operation and collection, with the failed
    one carrying ``error.type``."""
    table, _spans, points = run
    system = CASES[case][2]
    mine = [point for point in points if point.attributes.get("db.collection.name") == table]
    counted = {(point.attributes["db.operation.name"], "error.type" in point.attributes): point.count
               for point in mine}
    assert counted == {("CREATE", False): 1, ("INSERT", False): 1, ("SELECT", False): 1, ("SELECT", True): 1}
    assert {point.attributes["db.system.name"] for point in mine} == {system}
    assert all(point.unit == "s" for point in mine)
    if system in NETWORKED and CASES[case][1] != "postgresql+asyncpg":  # asyncpg: no public address
        assert {point.attributes["server.address"] for point in mine} == {"127.0.0.1"}


@pytest.mark.parametrize("case", ["sqlite3", "psycopg2"])
def test_returned_rows_histogram_is_dropped(case: str, run: Run, receiver: OTLPReceiver) -> None:
    """contrib's DB-API layer also records ``db.client.response.returned_rows`` (the cursor's row count) on
    every query; nothing obs makes reads it, so it is dropped, and only ``db.client.operation.duration`` is
    exported for the app's queries (the INSERT, whose row count contrib would have recorded, among them)."""
    table, _spans, points = run
    service = f"db-{case}"
    names = {point.name for point in receiver.metric_points()
             if point.resource.get("service.name") == service}
    assert "db.client.operation.duration" in names
    assert "db.client.response.returned_rows" not in names, names
    assert any(point.attributes.get("db.operation.name") == "INSERT"
               and point.attributes.get("db.collection.name") == table for point in points)
