"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.otlp_receiver import OTLPReceiver
from tests.servers import MariaDB, PostgreSQL, Redis, mariadb_server, postgresql_server, redis_server


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """A real OTLP/HTTP receiver on loopback, for the agent under test to export to."""
    with OTLPReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def postgresql() -> Iterator[PostgreSQL]:
    """A private PostgreSQL server on loopback for the test module (tests/servers.py)."""
    with postgresql_server() as running:
        yield running


@pytest.fixture(scope="module")
def mariadb() -> Iterator[MariaDB]:
    """A private MariaDB server on loopback for the test module (tests/servers.py)."""
    with mariadb_server() as running:
        yield running


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    """A private Redis server on loopback for the test module (tests/servers.py)."""
    with redis_server() as running:
        yield running
