"""The real servers the tests start (tests/servers.py) answer their own protocols on loopback."""

from __future__ import annotations

import socket
import subprocess

from tests.servers import MariaDB, PostgreSQL, Redis, _mariadb_tool, _postgres_tool


def test_postgresql_answers_a_query_as_its_trusted_user(postgresql: PostgreSQL) -> None:
    """The private cluster takes connections on its free port and runs SQL."""
    answer = subprocess.run(
        [_postgres_tool("psql"), "-h", postgresql.host, "-p", str(postgresql.port), "-U", postgresql.user,
         "-d", postgresql.database, "-tAc", "select 6 * 7"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    assert answer.stdout.strip() == "42"


def test_mariadb_answers_a_query_as_its_user_over_tcp(mariadb: MariaDB) -> None:
    """The private MariaDB takes its passwordless user's TCP connections on its free port and runs SQL in
    its database; its unix socket is its own (the client is told to use TCP and the given port)."""
    answer = subprocess.run(
        [_mariadb_tool("mariadb"), "--no-defaults", "--protocol=tcp", f"--host={mariadb.host}",
         f"--port={mariadb.port}", f"--user={mariadb.user}", "--batch", "--skip-column-names",
         "--execute=SELECT 6 * 7, DATABASE(), CURRENT_USER(), @@socket LIKE '%obs-test-mariadb-%'",
         mariadb.database],
        capture_output=True, text=True, check=True, timeout=30,
    )
    assert answer.stdout.split() == ["42", mariadb.database, f"{mariadb.user}@%", "1"]


def test_redis_answers_ping_and_keeps_a_key(redis: Redis) -> None:
    """The private Redis speaks RESP on its free port."""
    with socket.create_connection((redis.host, redis.port), timeout=5) as connection:
        connection.sendall(b"PING\r\nSET obs-key 7\r\nGET obs-key\r\n")
        received = b""
        while received.count(b"\r\n") < 4:
            received += connection.recv(1024)
    assert received == b"+PONG\r\n+OK\r\n$1\r\n7\r\n"
