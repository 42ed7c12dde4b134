"""Database and broker URLs the project writes down: which driver and which broker its settings name.

Read from ``.env`` files (``NAME=value`` lines) and from string literals in the project's Python source
(``DATABASE_URL = "postgresql+psycopg://..."``, pydantic settings defaults...). Files are read, never run,
and the evidence keeps only the scheme: a URL may carry a password, which obs never prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["ENV_FILES", "Mentioned", "library_of", "scan_env_files", "urls_in"]

_URL: Final = re.compile(
    r"\b(?P<scheme>postgres(?:ql)?|mysql|mariadb|sqlite|redis|rediss|amqp|amqps)(?:\+(?P<driver>[a-z0-9_]+))?://",
    re.IGNORECASE,
)
_ENV_LINE: Final = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)$")
_BROKER_WORDS: Final = ("BROKER", "RESULT_BACKEND", "CELERY")

ENV_FILES: Final = (".env", ".env.example", ".env.sample", ".env.dist", ".env.local", ".env.development",
                    ".env.production", "example.env", "sample.env")

# No entry for sqlite: the module is in every Python, and SQLAlchemy over it is served by the sqlite3
# instrumentation whenever SQLAlchemy's is chosen (obs.agent._instrument.DRIVER_LAYER).
_DRIVERS: Final = {
    ("postgresql", "psycopg"): "psycopg", ("postgresql", "psycopg2"): "psycopg2",
    ("postgresql", "asyncpg"): "asyncpg", ("postgresql", "pg8000"): "",
    ("postgresql", ""): "postgresql",
    ("mysql", "pymysql"): "pymysql", ("mysql", "mysqldb"): "mysqlclient", ("mysql", ""): "mysqlclient",
    ("mysql", "mysqlconnector"): "mysql-connector-python", ("mysql", "aiomysql"): "",
    ("mysql", "asyncmy"): "",
    ("redis", ""): "redis",
}


@dataclass(frozen=True)
class Mentioned:
    """A URL in the project: ``DATABASE_URL=postgresql+psycopg://…`` at .env line 2 (scheme kept only)."""

    scheme: str
    """``postgresql+psycopg``: the scheme and driver as written, lower case, without the rest of the URL."""
    path: str
    line: int
    variable: str = ""
    """The variable it is assigned to, when told (``.env`` files)."""

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def broker(self) -> bool:
        """A Celery broker or result backend (by its variable's name, or an AMQP scheme)."""
        return self.scheme.startswith("amqp") or any(word in self.variable.upper() for word in _BROKER_WORDS)

    def describe(self) -> str:
        named = f"{self.variable}=" if self.variable else ""
        return f"{self.where()} names {named}{self.scheme}://…"


def library_of(mention: Mentioned) -> str:
    """The library key (obs.detect._libraries) the URL's driver stands for; ``postgresql`` when the URL names
    no driver (the caller picks one); "" when obs knows no instrumentation for it, or for a broker."""
    if mention.broker:
        return ""
    scheme, _, driver = mention.scheme.partition("+")
    family = {"postgres": "postgresql", "mariadb": "mysql", "rediss": "redis"}.get(scheme, scheme)
    return _DRIVERS.get((family, driver), "")


def urls_in(text: str, path: str, line: int, variable: str = "") -> Iterator[Mentioned]:
    for match in _URL.finditer(text):
        scheme = match.group("scheme").lower()
        driver = (match.group("driver") or "").lower()
        yield Mentioned(f"{scheme}+{driver}" if driver else scheme, path, line, variable)


def scan_env_files(root: Path) -> list[Mentioned]:
    """URLs assigned in the project's ``.env`` files (root folder only)."""
    found: list[Mentioned] = []
    for name in ENV_FILES:
        path = root / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            continue
        for number, raw in enumerate(text.splitlines()[:2000], 1):
            match = _ENV_LINE.match(raw)
            if match is not None:
                found += urls_in(match.group("value"), name, number, match.group("name"))
    return found
