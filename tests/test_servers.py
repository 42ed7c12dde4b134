"""The real servers the tests start (tests/servers.py) answer their own protocols on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from tests.servers import MariaDB, PostgreSQL, Redis, _mariadb_tool, _postgres_tool, postgresql_server


def test_postgresql_answers_a_query_as_its_trusted_user(postgresql: PostgreSQL) -> None:
    """The private cluster takes connections on its free port and runs SQL."""
    answer = subprocess.run(
        [_postgres_tool("psql"), "-h", postgresql.host, "-p", str(postgresql.port), "-U", postgresql.user,
         "-d", postgresql.database, "-tAc", "select 6 * 7"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    assert answer.stdout.strip() == "42"


def _psql(server: PostgreSQL, *args: str) -> list[str]:
    return [_postgres_tool("psql"), "-h", server.host, "-p", str(server.port), "-U", server.user, "-d",
            server.database, "-tA", *args]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the postmaster's backends and workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, OSError):
        return False
    return state != "Z"


def test_postgresql_stop_ends_open_sessions_and_leaves_no_process() -> None:
    """Leaving the block stops the cluster with PostgreSQL's fast shutdown: a session still open (a pool's
    idle connection) is ended by the server ("terminating connection due to administrator command"), not
    waited for nor killed, and the postmaster and all its processes are gone when the block returns."""
    environment = {**os.environ, "PGAPPNAME": "idle-session"}
    with postgresql_server() as server:
        session = subprocess.Popen(_psql(server), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=environment)
        try:
            query = "select count(*) from pg_stat_activity where application_name = 'idle-session'"
            deadline = time.monotonic() + 30
            while subprocess.run(_psql(server, "-c", query), capture_output=True, text=True, timeout=30,
                                 check=True).stdout.strip() != "1":
                assert time.monotonic() < deadline, "the idle session did not connect in 30 s"
                time.sleep(0.1)
            processes = [server.pid, *_children(server.pid)]
        except BaseException:
            session.kill()
            session.wait()
            raise
    assert len(processes) > 2 and not [pid for pid in processes if _alive(pid)]
    _, said = session.communicate(b"select 1;\n", timeout=30)
    assert b"terminating connection due to administrator command" in said


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
