"""Real database and broker servers for the tests: PostgreSQL, MariaDB and Redis from Debian's packages.

Each server runs on a free loopback port with its data in a temporary folder of its own, started for the
block and stopped after it (`make tools` installs the packages through scripts/servers.sh). PostgreSQL and
MariaDB refuse to run as root, so under root their data belongs to ``nobody``. A missing server skips the test
with the command that provides it, except under CI, where a missing one fails it (tests/tools.py's rule).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "MariaDB", "PostgreSQL", "Redis", "free_port", "mariadb_server", "postgresql_server", "redis_server",
]

_HINT = "run `make tools` (scripts/servers.sh)"
_POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _missing(what: str) -> None:
    message = f"{what} not found: {_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs it with `make tools`: a missing server there is a failure)")
    pytest.skip(message)


def _postgres_tool(name: str) -> str:
    for folder in _POSTGRES_BIN:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        _missing(f"PostgreSQL's {name}")
        raise AssertionError("unreachable")
    return found


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode} before it listened") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} in {seconds:.0f} s") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass(frozen=True)
class PostgreSQL:
    """A running PostgreSQL: connect as ``user`` (trust authentication) to database ``database``."""

    host: str
    port: int
    user: str
    database: str
    pid: int = 0
    """The postmaster's process id."""

    def url(self, driver: str = "postgresql") -> str:
        """A SQLAlchemy-style URL: ``url("postgresql+psycopg")`` is ``postgresql+psycopg://obs@...``."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """The libpq keyword DSN (psycopg, psycopg2)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"


@contextmanager
def postgresql_server() -> Iterator[PostgreSQL]:
    """A private PostgreSQL cluster on a free port, in a temporary folder, for the block."""
    initdb, postgres = _postgres_tool("initdb"), _postgres_tool("postgres")
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("nobody") if as_root else pwd.getpwuid(os.geteuid())
    folder = Path(tempfile.mkdtemp(prefix="obs-test-pg-"))
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir()
    if as_root:
        for path in (folder, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    # The server's own user, set by the child itself (no runuser between the test and the postmaster: the
    # stop's signal reaches it, and nothing else decides when to kill it).
    user, group = (owner.pw_uid, owner.pw_gid) if as_root else (None, None)
    groups: list[int] | None = [] if as_root else None
    port = free_port()
    subprocess.run(
        [initdb, "-D", str(data), "-U", "obs", "-A", "trust", "--no-sync", "-E", "UTF8"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder, timeout=120,
        user=user, group=group, extra_groups=groups,
    )
    process = subprocess.Popen(
        [
            postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(sockets),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, user=user, group=group,
        extra_groups=groups,
    )
    try:
        _wait_for_port(port, process, "PostgreSQL")
        server = PostgreSQL("127.0.0.1", port, "obs", "postgres", process.pid)
        _wait_until_accepting(server, process)
        yield server
    finally:
        _stop_postgres(process)
        shutil.rmtree(folder, ignore_errors=True)


def _stop_postgres(process: subprocess.Popen[bytes]) -> None:
    """PostgreSQL's fast shutdown (SIGINT): sessions are ended, the postmaster waits for its backends and
    exits, in well under a second. SIGTERM would be the smart shutdown, which waits for every client to leave
    (a test's pooled connection may never). Bounded: then the immediate shutdown (SIGQUIT), then SIGKILL."""
    for signal_number, seconds in ((signal.SIGINT, 20.0), (signal.SIGQUIT, 5.0)):
        if process.poll() is not None:
            return
        process.send_signal(signal_number)
        try:
            process.wait(timeout=seconds)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait(timeout=5)


def _wait_until_accepting(server: PostgreSQL, process: subprocess.Popen[bytes]) -> None:
    """The port opens before recovery ends: wait for pg_isready's yes."""
    ready = _postgres_tool("pg_isready")
    deadline = time.monotonic() + 30
    while subprocess.run(
        [ready, "-h", server.host, "-p", str(server.port), "-U", server.user, "-q"], check=False,
    ).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not accept connections")
        time.sleep(0.1)


@dataclass(frozen=True)
class MariaDB:
    """A running MariaDB: connect as ``user`` (no password) to database ``database`` over TCP."""

    host: str
    port: int
    user: str
    database: str

    def url(self, driver: str = "mysql+pymysql") -> str:
        """A SQLAlchemy-style URL: ``url("mysql+mysqldb")`` is ``mysql+mysqldb://obs@...``."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{self.database}"


_MARIADB_USER = """
CREATE USER IF NOT EXISTS 'obs'@'%';
GRANT ALL ON *.* TO 'obs'@'%';
CREATE DATABASE IF NOT EXISTS obs;
"""
"""Run by the server at start (``--init-file``): the bootstrap of mariadb-install-db runs without the grant
tables, where CREATE USER is refused."""

_MARIADB_FAST = [
    # Throwaway data: no durability, small memory, and no native AIO (the kernel's AIO contexts are shared by
    # every process on the machine; simulated AIO needs none).
    "--innodb-flush-method=nosync", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
    "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M", "--innodb-use-native-aio=0",
    "--skip-name-resolve",
]


def _mariadb_tool(name: str, folder: str = "/usr/bin") -> str:
    found = shutil.which(name) or (str(Path(folder) / name) if (Path(folder) / name).is_file() else None)
    if found is None:
        _missing(f"MariaDB's {name}")
        raise AssertionError("unreachable")
    return found


_mariadb_datadir: list[Path] = []
"""The data folder mariadb-install-db made, once for the test session (see :func:`_mariadb_system_tables`)."""


def _as_nobody_if_root(path: Path) -> None:
    if os.geteuid() == 0:
        owner = pwd.getpwnam("nobody")
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _mariadb_system_tables(user: list[str]) -> Path:
    """A data folder with the system tables, made by mariadb-install-db once for the session and copied for
    each server: loading its help tables and sys schema is most of a server's start (seconds on a busy
    machine), the same each time."""
    if _mariadb_datadir and _mariadb_datadir[0].is_dir():
        return _mariadb_datadir[0]
    install = _mariadb_tool("mariadb-install-db")
    folder = Path(tempfile.mkdtemp(prefix="obs-test-mariadb-tables-"))
    atexit.register(shutil.rmtree, folder, True)
    _as_nobody_if_root(folder)
    data = folder / "data"
    installed = subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket",
         "--skip-test-db", f"--tmpdir={folder}", *user, *_MARIADB_FAST],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=folder, timeout=120, check=False,
    )
    if installed.returncode != 0:
        said = installed.stdout.decode(errors="replace")[-2000:]
        raise RuntimeError(f"mariadb-install-db exited with {installed.returncode}: {said}")
    _mariadb_datadir[:] = [data]
    return data


@contextmanager
def mariadb_server() -> Iterator[MariaDB]:
    """A private MariaDB on a free port, its data and unix socket in a temporary folder, for the block."""
    mariadbd, client = _mariadb_tool("mariadbd", "/usr/sbin"), _mariadb_tool("mariadb")
    # mariadbd drops to ``--user`` itself (no runuser between the test and the server: SIGTERM reaches it).
    user = ["--user=nobody"] if os.geteuid() == 0 else []
    tables = _mariadb_system_tables(user)
    folder = Path(tempfile.mkdtemp(prefix="obs-test-mariadb-"))
    data, init = folder / "data", folder / "init.sql"
    try:
        init.write_text(_MARIADB_USER, encoding="utf-8")
        for path in (folder, init):
            _as_nobody_if_root(path)
        subprocess.run(["cp", "-a", str(tables), str(data)], check=True, timeout=60)  # keeps the owner
        process, server = _start_mariadbd(mariadbd, client, folder, data, init, user)
        try:
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _start_mariadbd(mariadbd: str, client: str, folder: Path, data: Path, init: Path,
                    user: list[str]) -> tuple[subprocess.Popen[bytes], MariaDB]:
    """mariadbd answering its user on a free port. The port can be taken between picking and binding it (the
    server then exits, its log saying so, and another port is tried: three tries); it can open before the
    init file has made the user, or be another program's: ready means the user's query was answered."""
    log = folder / "error.log"
    for attempt in range(3):
        port, seen = free_port(), log.stat().st_size if log.exists() else 0
        process = subprocess.Popen(
            [mariadbd, "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
             f"--socket={folder / 'mysqld.sock'}", f"--pid-file={folder / 'mysqld.pid'}",
             f"--log-error={log}", f"--tmpdir={folder}", f"--init-file={init}", "--max-connections=200",
             "--skip-log-bin", *user, *_MARIADB_FAST],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
        )
        server = MariaDB("127.0.0.1", port, "obs", "obs")
        try:
            _wait_until_logged_in(client, server, process)
            return process, server
        except RuntimeError as error:
            _stop(process)
            said = log.read_bytes()[seen:].decode(errors="replace") if log.exists() else ""
            if attempt == 2 or "Bind on TCP/IP port" not in said:
                raise RuntimeError(f"{error}; its log ends with:\n{said[-2000:]}") from None
    raise AssertionError("unreachable")


def _wait_until_logged_in(client: str, server: MariaDB, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while subprocess.run(
        [client, "--no-defaults", "--protocol=tcp", f"--host={server.host}", f"--port={server.port}",
         f"--user={server.user}", "--connect-timeout=5", "--execute=SELECT 1", server.database],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False,
    ).returncode != 0:
        if process.poll() is not None:
            raise RuntimeError(f"MariaDB exited with {process.returncode} before it answered")
        if time.monotonic() > deadline:
            raise RuntimeError("MariaDB did not answer its user's query in 30 s")
        time.sleep(0.1)


@dataclass(frozen=True)
class Redis:
    """A running Redis, no persistence."""

    host: str
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"


@contextmanager
def redis_server() -> Iterator[Redis]:
    """A Redis on a free port with no persistence, in a temporary folder, for the block."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
        raise AssertionError("unreachable")
    folder = Path(tempfile.mkdtemp(prefix="obs-test-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
    )
    try:
        _wait_for_port(port, process, "Redis")
        yield Redis("127.0.0.1", port)
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)
