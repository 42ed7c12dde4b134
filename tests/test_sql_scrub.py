"""Secrets written into SQL text and Redis command lines never leave the app: an app under ``obs run`` writes
literals into its statements (a real PostgreSQL through psycopg and asyncpg, a real MariaDB through PyMySQL,
sqlite3) and gives Redis a whole command line holding a value; every byte the OTLP receiver got is searched
for them. The statements still arrive, with ``?`` where the literals were, named after their operation and
table. With ``OBS_SCRUB=off`` the same secrets are found, which shows the search would see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.otlp_receiver import OTLPReceiver, Span
from tests.servers import MariaDB, PostgreSQL, Redis

SECRETS = {
    "psycopg string": "PGSTR-a1q7",
    "psycopg number": "918273645",
    "psycopg dollar quote": "PGDOLLAR-b2q7",
    "psycopg escape string": "PGESC-c3q7",
    "psycopg refused statement": "PGERR-l3q7",
    "psycopg refused token": "PGTOK-m4q7",
    "asyncpg string": "APGSTR-d4q7",
    "pymysql double-quoted string": "MYDQ-e5q7",
    "pymysql escaped string": "MYESC-f6q7",
    "sqlite3 string": "LITE-g7q7",
    "sqlite3 in list": "LITELIST-h8q7",
    "sqlite3 double-quoted string": "LITEDQ-k2q7",
    "redis whole command": "REDISVAL-i9q7",
    "redis pipeline command": "REDISPIPE-j1q7",
}

APP = """
import asyncio, logging, os, sqlite3
import asyncpg, psycopg, pymysql, redis
S = {secrets!r}

with psycopg.connect(os.environ["PG_DSN"]) as pg:
    pg.execute("CREATE TABLE accounts (id int primary key, api_key text, password text)")
    pg.execute(f"INSERT INTO accounts VALUES ({{S['psycopg number']}}, '{{S['psycopg string']}}', 'x')")
    pg.execute(f"UPDATE accounts SET password = $${{S['psycopg dollar quote']}}$$ WHERE id = 1")
    print(pg.execute(f"SELECT count(*) FROM accounts WHERE api_key = E'{{S['psycopg escape string']}}\\\\''"
                     " OR id = %s", (2,)).fetchone()[0])

with psycopg.connect(os.environ["PG_DSN"], autocommit=True) as pg:
    try:  # PostgreSQL's error quotes the statement's line and the token it stopped at
        pg.execute(f"UPDATE accounts SET password = '{{S['psycopg refused statement']}}'"
                   f" '{{S['psycopg refused token']}}'")
    except psycopg.Error:
        logging.getLogger("shop").exception("update refused")

async def main():
    connection = await asyncpg.connect(os.environ["PG_URL"])
    await connection.fetch(f"SELECT id FROM accounts WHERE api_key = '{{S['asyncpg string']}}'")
    await connection.close()

asyncio.run(main())

my = pymysql.connect(host=os.environ["MY_HOST"], port=int(os.environ["MY_PORT"]), user=os.environ["MY_USER"],
                     database=os.environ["MY_DB"])
with my.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS tokens (id int, token text)")
    cursor.execute(f'INSERT INTO tokens VALUES (1, "{{S["pymysql double-quoted string"]}}")')
    cursor.execute(f"SELECT id FROM tokens WHERE token = 'it\\\\'s {{S['pymysql escaped string']}}'")
my.commit()
my.close()

lite = sqlite3.connect(":memory:")
lite.execute("CREATE TABLE users (name text)")
lite.execute(f"INSERT INTO users VALUES ('{{S['sqlite3 string']}}')")
lite.execute(f"SELECT name FROM users WHERE name IN ('a', '{{S['sqlite3 in list']}}')").fetchall()
lite.execute(f'SELECT "name" FROM users WHERE "name" = "{{S["sqlite3 double-quoted string"]}}"').fetchall()

cache = redis.Redis.from_url(os.environ["REDIS_URL"])
cache.execute_command(f"SET session-key {{S['redis whole command']}}")
pipe = cache.pipeline()
pipe.execute_command(f"SET pipe-key {{S['redis pipeline command']}}")
pipe.get("pipe-key")
pipe.execute()
print("done")
"""


@dataclass(frozen=True)
class Run:
    raw: bytes
    spans: list[Span]
    output: str


def _run(folder: Path, postgresql: PostgreSQL, mariadb: MariaDB, redis: Redis, scrub: str) -> Run:
    script = folder / "statements.py"
    script.write_text(textwrap.dedent(APP).format(secrets=SECRETS), encoding="utf-8")
    with OTLPReceiver() as receiver:
        result = subprocess.run(
            [sys.executable, "-m", "obs", "run", "--", sys.executable, str(script)],
            env={**os.environ, "PG_DSN": postgresql.dsn, "PG_URL": postgresql.url(),
                 "MY_HOST": mariadb.host, "MY_PORT": str(mariadb.port), "MY_USER": mariadb.user,
                 "MY_DB": mariadb.database, "REDIS_URL": redis.url(), "OTEL_SERVICE_NAME": "statements",
                 "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_TRACES_SAMPLER": "always_on",
                 "OBS_SCRUB": scrub},
            cwd=folder, capture_output=True, text=True, timeout=90, check=False,
        )
        assert result.returncode == 0 and "done" in result.stdout, result.stderr
        return Run(receiver.raw(), receiver.spans(), result.stdout + result.stderr)


@pytest.fixture(scope="module")
def runs(postgresql: PostgreSQL, mariadb: MariaDB, redis: Redis,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """The app once with scrubbing on, once off (fresh databases' tables: the second run drops them first)."""
    done: dict[str, Run] = {}
    for scrub in ("on", "off"):
        done[scrub] = _run(tmp_path_factory.mktemp(f"sql-{scrub}"), postgresql, mariadb, redis, scrub)
        _drop_tables(postgresql, mariadb)
    yield done


def _drop_tables(postgresql: PostgreSQL, mariadb: MariaDB) -> None:
    import psycopg
    import pymysql

    with psycopg.connect(postgresql.dsn) as connection:
        connection.execute("DROP TABLE IF EXISTS accounts")
    with pymysql.connect(host=mariadb.host, port=mariadb.port, user=mariadb.user,
                         database=mariadb.database) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS tokens")


def _found(data: bytes) -> list[str]:
    return [what for what, secret in SECRETS.items() if secret.encode() in data]


def _texts(spans: list[Span]) -> set[str]:
    return {str(span.attributes.get("db.query.text")) for span in spans if "db.query.text" in span.attributes}


def test_no_literal_of_a_statement_reaches_the_collector(runs: dict[str, Run]) -> None:
    """No planted literal is in any byte received, while the statements arrive with ``?`` in their place
    (quoted identifiers and placeholders kept), in the dialect of each database."""
    run = runs["on"]
    assert _found(run.raw) == [], run.output
    texts = _texts(run.spans)
    assert "INSERT INTO accounts VALUES (?, ?, ?)" in texts
    assert "UPDATE accounts SET password = ? WHERE id = ?" in texts
    assert "SELECT count(*) FROM accounts WHERE api_key = ? OR id = %s" in texts
    assert "SELECT id FROM accounts WHERE api_key = ?" in texts  # asyncpg
    assert b"LINE 1: UPDATE accounts SET password = ? ?" in run.raw and b"update refused" in run.raw
    assert "INSERT INTO tokens VALUES (?, ?)" in texts  # MariaDB: "..." is a string there
    assert "INSERT INTO users VALUES (?)" in texts
    assert "SELECT name FROM users WHERE name IN (?)" in texts
    assert 'SELECT "name" FROM users WHERE "name" = ?' in texts  # SQLite: a compared "..." is a string
    assert "SET ? ?" in texts


def test_spans_keep_their_names_and_tables(runs: dict[str, Run]) -> None:
    """Names and ``db.collection.name`` are read from the statement before it is sanitized: they stay; a
    Redis command given whole is named after the command alone."""
    spans = runs["on"].spans
    names = {span.name for span in spans}
    assert {"INSERT accounts", "UPDATE accounts", "SELECT accounts", "INSERT tokens", "INSERT users",
            "SELECT users", "SET"} <= names, names
    assert not any(secret in name for name in names for secret in SECRETS.values())
    pipelines = [span for span in spans if "pipe" in span.name.lower() or "\n" in str(
        span.attributes.get("db.query.text", ""))]
    assert [span.attributes.get("db.query.text") for span in pipelines] == ["SET ? ?\nGET ?"], pipelines
    tables = {span.attributes.get("db.collection.name") for span in spans}
    assert {"accounts", "tokens", "users"} <= tables


def test_scrubbing_off_lets_the_literals_through(runs: dict[str, Run]) -> None:
    """OBS_SCRUB=off: every planted literal is exported, so the search above would see them."""
    assert _found(runs["off"].raw) == list(SECRETS)
