"""SQL text sanitizing: every literal of a statement becomes ``?``, as the database conventions ask of
``db.query.text``; identifiers, keywords, quoted identifiers, comments and placeholders stay, in each dialect.
In process, no server: the end-to-end searches of exported bytes are in tests/test_sql_scrub.py."""

from __future__ import annotations

import random
import time

import pytest
from obs.agent._otlp.spans import SpanEncoder
from obs.agent._support import sql_text
from obs.agent._support.scrub import Scrubber
from obs.agent._support.sql_text import MYSQL, SQLITE, STANDARD, sanitize
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

STANDARD_CASES = [
    # strings, with doubled quotes, prefixes, typed literals
    ("SELECT * FROM users WHERE api_key = 'k-123'", "SELECT * FROM users WHERE api_key = ?"),
    ("UPDATE accounts SET password = 'hun''ter2' WHERE id = 7",
     "UPDATE accounts SET password = ? WHERE id = ?"),
    ("SELECT E'it\\'s s3cret', N'nchar', U&'d\\0061t', X'1F', B'0101'", "SELECT ?, ?, ?, ?, ?"),
    ("SELECT DATE '2024-01-31', INTERVAL '1 day', TIMESTAMP '2024-01-31 10:00'",
     "SELECT DATE ?, INTERVAL ?, TIMESTAMP ?"),
    ("SELECT ''", "SELECT ?"),
    ("SELECT 'a''", "SELECT ?"),  # unterminated (a statement cut short): the rest goes
    ("SELECT x FROM t WHERE y = 'unterminated AND z = 1", "SELECT x FROM t WHERE y = ?"),
    # dollar quotes (PostgreSQL)
    ("SELECT $$s3cret 'x'$$, $fn$body $$ inner$fn$", "SELECT ?, ?"),
    ("DO $body$ BEGIN PERFORM 1; END $body$", "DO ?"),
    # numbers, hexadecimal, binary, booleans; the minus sign is an operator
    ("SELECT 42, -7, 3.14, .5, 1e10, 2.5E-3, 0x1F, 0b1010", "SELECT ?, -?, ?, ?, ?, ?, ?, ?"),
    ("UPDATE flags SET on = TRUE, off = false WHERE gone IS NULL",
     "UPDATE flags SET on = ?, off = ? WHERE gone IS NULL"),
    # identifiers holding digits or dollars, quoted identifiers, schema-qualified names stay
    ('SELECT "user"."Name 1", t1.col_2, v$session, "a""b" FROM public."Table 9" t1',
     'SELECT "user"."Name 1", t1.col_2, v$session, "a""b" FROM public."Table 9" t1'),
    ("SELECT `order`, `x``y` FROM `2fa_codes`", "SELECT `order`, `x``y` FROM `2fa_codes`"),
    ("SELECT * FROM 2fa_codes LIMIT 10", "SELECT * FROM 2fa_codes LIMIT ?"),
    # placeholders stay: format, pyformat, qmark, numeric, named, PostgreSQL, T-SQL; casts too
    ("INSERT INTO t VALUES (%s, %(name)s, ?, ?1, :1, :name, $1, @p1)",
     "INSERT INTO t VALUES (%s, %(name)s, ?, ?1, :1, :name, $1, @p1)"),
    ("SELECT x::int, y::text[] FROM t WHERE a = $2 AND b LIKE 'p%%'",
     "SELECT x::int, y::text[] FROM t WHERE a = $2 AND b LIKE ?"),
    ("SELECT * FROM t WHERE a = %s AND b = 'fixed'", "SELECT * FROM t WHERE a = %s AND b = ?"),
    # comments stay, and their insides are not read as tokens
    ("SELECT 1 -- it's a comment\nFROM t", "SELECT ? -- it's a comment\nFROM t"),
    ("/* app='shop' */ SELECT 'x' /* unterminated 'y'", "/* app='shop' */ SELECT ? /* unterminated 'y'"),
    ("SELECT a # not a comment here\nFROM t", "SELECT a # not a comment here\nFROM t"),
    # IN lists of literals collapse; lists with placeholders or expressions do not
    ("SELECT * FROM t WHERE id IN (1, 2, 3) AND s in ('a','b')",
     "SELECT * FROM t WHERE id IN (?) AND s in (?)"),
    ("SELECT * FROM t WHERE id IN (%s, %s) OR id IN (1, x, 2)",
     "SELECT * FROM t WHERE id IN (%s, %s) OR id IN (?, x, ?)"),
    ("SELECT * FROM t WHERE login IN (1, 2)", "SELECT * FROM t WHERE login IN (?)"),
    ("SELECT * FROM t WHERE id = ANY(ARRAY[1, 2])", "SELECT * FROM t WHERE id = ANY(ARRAY[?, ?])"),
    ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')", "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"),
    # nothing to replace: the very same object
    ("", ""),
    ("SELECT name FROM items WHERE id = %s", "SELECT name FROM items WHERE id = %s"),
    ("SELT ünïcode, naïve_ß FROM t WHERE x = 'ü'", "SELT ünïcode, naïve_ß FROM t WHERE x = ?"),
]


@pytest.mark.parametrize(("statement", "expected"), STANDARD_CASES)
def test_standard_sql_literals_become_question_marks(statement: str, expected: str) -> None:
    """PostgreSQL, SQLite, Oracle, SQL Server and the rest: ``'...'`` is a string, ``"..."`` an identifier."""
    assert sanitize(statement, STANDARD) == expected


@pytest.mark.parametrize(("statement", "expected"), [
    ('SELECT * FROM users WHERE password = "hunter2"', "SELECT * FROM users WHERE password = ?"),
    ("SELECT * FROM u WHERE n = 'it''s' AND k = 's3cret'", "SELECT * FROM u WHERE n = ? AND k = ?"),
    # an escaped quote: the other reading (NO_BACKSLASH_ESCAPES) ends the string there, so all that either
    # reading calls a literal goes, here to the end
    ("SELECT * FROM u WHERE n = 'it\\'s' AND k = 's3cret'", "SELECT * FROM u WHERE n = ?"),
    ("SELECT `weird``name` FROM `db`.`t` WHERE x = 1 # trailing 'comment'",
     "SELECT `weird``name` FROM `db`.`t` WHERE x = ? # trailing 'comment'"),
    ("SELECT _utf8mb4'abc', 0xFF, b'01'", "SELECT _utf8mb4?, ?, ?"),
    ("SELECT $$ FROM t", "SELECT $$ FROM t"),  # no dollar quotes in MySQL
    ("UPDATE t SET n = n--5 -- real 'x'", "UPDATE t SET n = n--? -- real 'x'"),  # -- needs a space after it
])
def test_mysql_reads_double_quotes_as_strings(statement: str, expected: str) -> None:
    """MySQL and MariaDB: ``"..."`` is a string, ``#`` starts a comment, backslashes escape."""
    assert sanitize(statement, MYSQL) == expected


@pytest.mark.parametrize(("statement", "expected"), [
    ('SELECT "users"."id" FROM "users" WHERE "users"."password" = "hunter2"',
     'SELECT "users"."id" FROM "users" WHERE "users"."password" = ?'),
    ('SELECT * FROM t WHERE a LIKE "p%" OR b<>"x" OR c IS "y" OR "d" = e',
     'SELECT * FROM t WHERE a LIKE ? OR b<>? OR c IS ? OR "d" = e'),
    ('SELECT CASE WHEN a THEN "yes" ELSE "no" END FROM "t"', 'SELECT CASE WHEN a THEN ? ELSE ? END FROM "t"'),
    ('SELECT "unlike" FROM t', 'SELECT "unlike" FROM t'),
    ('SELECT "i"."id" FROM "i" INNER JOIN "tag" ON ("i"."tag_id" = "tag"."id") WHERE "tag"."n" = "x"',
     'SELECT "i"."id" FROM "i" INNER JOIN "tag" ON ("i"."tag_id" = "tag"."id") WHERE "tag"."n" = ?'),
])
def test_sqlite_reads_compared_double_quotes_as_strings(statement: str, expected: str) -> None:
    """SQLite takes ``"x"`` for a string when no column is named ``x``: compared to something, it is one;
    Django's quoted names stay."""
    assert sanitize(statement, SQLITE) == expected


def test_either_reading_of_backslashes_hides_the_secret() -> None:
    """A backslash before a quote escapes it in MySQL (unless NO_BACKSLASH_ESCAPES) and ends the string in
    PostgreSQL (unless standard_conforming_strings is off): whichever the server does, no secret stays."""
    for dialect in (STANDARD, MYSQL):
        for statement in ("SELECT 'C:\\' , 's3cret-one', 'x'", "SELECT 'it\\'s s3cret-one', 'x'"):
            clean = sanitize(statement, dialect)
            assert "s3cret" not in clean and clean.startswith("SELECT ?")


def test_unchanged_text_is_the_same_object_and_results_are_cached() -> None:
    statement = "SELECT name FROM items WHERE id = %s"
    assert sanitize(statement) is statement
    first = sanitize("SELECT 1 AS cached_case")
    assert sanitize("SELECT 1 AS cached_case") is first


@pytest.mark.parametrize("hostile", [
    "'" + "a" * 200_000,  # one unterminated string
    "\"" * 200_001,  # quotes that never pair in MySQL's reading, half of them in the other
    "'\\" * 100_000,  # backslashes: both readings
    "$a$" + " $b$" * 60_000,  # dollar quotes that never close
    "`" + "x" * 200_000,  # an unterminated quoted identifier
    "1" * 200_000 + "a",  # a digit run ending in a letter
    "0x" + "F" * 200_000 + "g",
    "IN (" + "1, " * 60_000 + "x)",  # a long list that is not all literals
    "/*" + "*" * 200_000,
    "SELECT " + "'a''" * 50_000,
])
def test_sanitizing_takes_linear_time(hostile: str) -> None:
    """Text built to make a backtracking scanner spin is read in well under the bound (a guard against a
    quadratic scan, which would take minutes on 200 KB; not a benchmark)."""
    for dialect in (STANDARD, MYSQL):
        started = time.monotonic()
        sql_text._sanitize(hostile, dialect)  # the uncached path
        assert time.monotonic() - started < 5.0


def test_statements_longer_than_the_limit_keep_their_first_word_only() -> None:
    huge = "INSERT INTO t VALUES " + "('s3cret', 1), " * 10_000
    assert sanitize(huge) == "INSERT ?"


def test_scrubber_sanitizes_statement_keys_in_the_dialect_of_the_system() -> None:
    """``db.query.text`` and ``db.statement``, read as the span's ``db.system.name`` says; a non-SQL system's
    statement is left alone; OBS_SCRUB=off leaves everything."""
    scrubber = Scrubber()
    query = 'SELECT * FROM "users" WHERE password = "hunter2" AND token = \'t0k\''
    mysql = {"db.system.name": "mysql", "db.query.text": query}
    postgres = {"db.system": "postgresql", "db.statement": query}
    assert scrubber.attributes(mysql)["db.query.text"] == "SELECT * FROM ? WHERE password = ? AND token = ?"
    assert scrubber.attributes(postgres)["db.statement"] == (
        'SELECT * FROM "users" WHERE password = "hunter2" AND token = ?')
    redis = {"db.system.name": "redis", "db.query.text": "SET ? ?"}
    assert scrubber.attributes(redis) is redis
    assert scrubber.value("db.query.text", "SELECT 'x'") == "SELECT ?"
    assert scrubber.value("db.query.text", "SELECT 1 FROM t WHERE u = 'postgresql://u:pw@h/x'") == (
        "SELECT ? FROM t WHERE u = ?")
    assert Scrubber(enabled=False).attributes(mysql) is mysql
    assert Scrubber(allow=["db.query.text"]).attributes(mysql) is mysql


@pytest.mark.parametrize(("line", "expected"), [
    ("SET ? ?", "SET ? ?"),  # contrib's usual text: unchanged
    ("SET session-key s3cret-value", "SET ? ?"),  # a command given whole in the first argument
    ("AUTH default s3cret-password", "AUTH ? ?"),
    ("CONFIG GET maxmemory ?", "CONFIG GET ? ?"),  # a subcommand stays
    ("SET k s3cret ?\nGET ?", "SET ? ? ?\nGET ?"),  # a pipeline: one line per command
])
def test_redis_command_lines_keep_the_command_only(line: str, expected: str) -> None:
    attributes = {"db.system.name": "redis", "db.query.text": line}
    assert Scrubber().attributes(attributes)["db.query.text"] == expected


def test_statement_lines_quoted_in_postgresql_errors_lose_their_literals() -> None:
    """PostgreSQL's error quotes the statement's line and the token it stopped at: in exception messages,
    stack traces, log bodies and status messages these lose their literals too; other lines stay."""
    error = ("psycopg.errors.SyntaxError: syntax error at or near \"'s3cret-b'\"\n"
             "LINE 1: UPDATE accounts SET password = 's3cret-a' 's3cret-b' WHERE id = 42\n"
             "                                                ^")
    clean = Scrubber().value("exception.stacktrace", error)
    assert "s3cret" not in clean and "42" not in clean
    assert "LINE 1: UPDATE accounts SET password = ? ? WHERE id = ?" in clean
    plain = 'syntax error at or near "FORM"'
    assert Scrubber().text(plain) is plain
    assert Scrubber(enabled=False).text(error) is error


def _span(attributes: dict[str, object]) -> ReadableSpan:
    provider = TracerProvider()
    span = provider.get_tracer("test").start_span("SELECT users", attributes=attributes)  # type: ignore[arg-type]
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def test_span_encoder_sends_sanitized_statements_per_dialect() -> None:
    """The encoder caches encoded attributes: one text under two systems is read in each one's dialect."""
    query = 'SELECT "a" FROM t WHERE k = \'s3cret-key\' AND n = 12345'
    encoder = SpanEncoder()
    for system, expected in (("postgresql", b'SELECT "a" FROM t WHERE k = ? AND n = ?'),
                             ("mysql", b"SELECT ? FROM t WHERE k = ? AND n = ?")):
        for _ in range(2):  # the second time from the cache
            data = encoder.encode([_span({"db.system.name": system, "db.query.text": query})])
            assert expected in data and b"s3cret-key" not in data and b"12345" not in data


def _quoted(chooser: random.Random, quote: str, content: str, backslashes: bool) -> str:
    """``content`` as a string literal: the quote doubled (or, with backslash escapes, sometimes escaped)."""
    out = []
    for char in content:
        if char == quote:
            out.append(chooser.choice([quote * 2, "\\" + quote]) if backslashes else quote * 2)
        elif char == "\\" and backslashes:
            out.append("\\\\")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def _random_statement(chooser: random.Random, dialect: str) -> str:
    """Keywords, names, placeholders, quoted names and literals in random order; every literal holds SECRET
    or the number 987654, written as the server reads it: with backslash escapes (MySQL by default,
    PostgreSQL with standard_conforming_strings off) or without (MySQL's NO_BACKSLASH_ESCAPES)."""
    backslashes = chooser.random() < (0.7 if dialect == MYSQL else 0.3)
    pieces = ["SECRET", "'", '"', " ", "x", ",", "\\", "$", "--", "/*"]
    tokens = ["SELECT", "FROM", "WHERE", "t", "users.name", "=", "(", ")", ",", "IN", "AND", "%s", "$1",
              ":name", "?", "::int", "NULL", "\n"]
    quoted = ["`col`"] if dialect == MYSQL else ['"col"', '"a""b"', "`col`"]
    parts = []
    for _ in range(chooser.randint(1, 30)):
        kind = chooser.random()
        content = "".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 6))) + "SECRET"
        if kind < 0.25:
            parts.append(_quoted(chooser, "'", content, backslashes))
        elif kind < 0.3 and dialect == MYSQL:
            parts.append(_quoted(chooser, '"', content, backslashes))
        elif kind < 0.35 and dialect != MYSQL:
            parts.append("$$" + content.replace("$", "") + "$$")
        elif kind < 0.45:
            parts.append(chooser.choice(["987654", "-987654", "987654.5", "0x987654", "9876.54e3"]))
        elif kind < 0.5:
            parts.append(chooser.choice(quoted))
        else:
            parts.append(chooser.choice(tokens))
    return " ".join(parts)


@pytest.mark.parametrize("dialect", [STANDARD, MYSQL, SQLITE])
def test_no_planted_literal_survives_random_statements(dialect: str) -> None:
    """2,000 random statements per dialect (fixed seed), each written for one reading of backslashes: no
    literal's content is left in what is sent."""
    chooser = random.Random(15)
    for _ in range(2000):
        statement = _random_statement(chooser, dialect)
        clean = sql_text._sanitize(statement, dialect)
        assert "SECRET" not in clean and "987654" not in clean and "9876" not in clean, (statement, clean)
