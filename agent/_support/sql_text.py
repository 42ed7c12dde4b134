"""SQL text with its literals replaced by ``?``, as the database conventions ask of ``db.query.text``
(and Redis command lines with their arguments replaced, as contrib's redis instrumentation means to).

Why: the instrumentations record a statement without its parameter values, but a value written into the SQL
itself (``f"... WHERE api_key = '{key}'"``, ``SET password = 'hunter2'``) is part of the text. Following the
conventions' "Sanitization of db.query.text", every literal becomes ``?``: strings (``'...'`` with ``''``,
``E'...'``, ``N'...'``, ``U&'...'``, ``$$...$$`` and ``$tag$...$tag$``), numbers (``42``, ``-`` stays an
operator, ``1.5e3``, ``.5``), hexadecimal and binary (``0x1F``, ``X'1F'``, ``B'01'``, ``0b01``) and the
booleans ``TRUE``/``FALSE``; typed literals keep their keyword (``DATE ?``, ``INTERVAL ?``). Identifiers,
keywords, ``NULL``, quoted identifiers (``"col"``, ```col```), comments and placeholders (``%s``,
``%(name)s``, ``?``, ``$1``, ``:name``, ``:1``, ``@name``) stay. A list of literals only, ``IN (1, 2, 3)``,
becomes ``IN (?)`` (the conventions allow it: long lists, and one text per query shape).

Dialects: in MySQL and MariaDB ``"..."`` is a string (elsewhere an identifier) and ``#`` starts a comment;
SQLite takes ``"x"`` for a string when no column is named ``x``, so there it is one after ``=``, ``<``, ``>``,
``LIKE``, ``GLOB``, ``IS``, ``THEN`` or ``ELSE``.
A backslash escapes a quote in MySQL strings unless ``NO_BACKSLASH_ESCAPES``, and in PostgreSQL ones only with
``standard_conforming_strings`` off: when a statement holds a backslash, both readings are made and what
either calls a literal is replaced, so neither setting can turn a secret into an "identifier".

Cost: one pass of one regular expression whose every branch either matches in constant time or, once
opened, always ends (an unterminated string runs to the end of the text and is replaced), so the time is
linear in the text whatever it holds; results are cached per statement (most apps run a few hundred
distinct ones).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["QUERY_TEXT_KEYS", "command_head", "dialect_of", "sanitize"]

QUERY_TEXT_KEYS: Final = frozenset({"db.query.text", "db.statement"})
"""Attributes holding a statement's text (stable and older conventions)."""

MYSQL: Final = "mysql"
SQLITE: Final = "sqlite"
STANDARD: Final = "standard"
REDIS: Final = "redis"
_MYSQL_SYSTEMS: Final = frozenset({"mysql", "mariadb", "tidb"})
NOT_SQL: Final = frozenset({"mongodb", "elasticsearch", "opensearch", "memcached", "couchdb",
                            "dynamodb", "aws.dynamodb", "cosmosdb", "azure.cosmosdb", "influxdb"})
"""Systems whose ``db.statement`` is not SQL: left to their instrumentation."""
_CONTAINER_COMMANDS: Final = frozenset({
    "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "FUNCTION", "LATENCY", "MEMORY", "MODULE", "OBJECT",
    "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
})
"""Redis commands whose second word is a subcommand (``CONFIG GET``), not a value."""


def dialect_of(system: object) -> str | None:
    """The dialect to read a statement of ``db.system.name`` ``system`` in; None: not SQL."""
    if not isinstance(system, str):
        return STANDARD
    lowered = system.lower()
    if lowered == REDIS:
        return REDIS
    if lowered in _MYSQL_SYSTEMS:
        return MYSQL
    if lowered == SQLITE:
        return SQLITE
    if lowered in NOT_SQL:
        return None
    return STANDARD


def _string(quote: str, backslash: bool) -> str:
    """A quoted string, its quote doubled inside, with or without backslash escapes; unterminated, it runs to
    the end (unrolled loops: no nested quantifier can backtrack)."""
    q = re.escape(quote)
    if backslash:
        return rf"{q}[^{q}\\]*(?:(?:{q}{q}|\\[\s\S])[^{q}\\]*)*(?:{q}|\Z)"
    return rf"{q}[^{q}]*(?:{q}{q}[^{q}]*)*(?:{q}|\Z)"


def _pattern(dialect: str, backslash: bool) -> re.Pattern[str]:
    """One alternation, tried left to right at each token: comments and quoted identifiers first (their
    insides are not tokens), then literals, placeholders, numbers, words."""
    keep = [r"/\*[\s\S]*?(?:\*/|\Z)", r"`[^`]*(?:``[^`]*)*`"]  # a lone ` or " is skipped
    literal = [
        r"[Ee]" + _string("'", True),  # E'...': backslash escapes in any reading
        r"(?:[BbXxNn]|[Uu]&)?" + _string("'", backslash),
    ]
    if dialect == MYSQL:
        keep.insert(0, r"#[^\n]*|--(?:[ \t\r\n][^\n]*|\Z)")  # MySQL's -- needs a space: 1--1 is 1 - -1
        literal.append(_string('"', backslash))
    else:
        keep.insert(0, r"--[^\n]*")
        quoted = r'"[^"]*(?:""[^"]*)*"'  # quoted identifier
        keep.append(f"(?P<quoted>{quoted})" if dialect == SQLITE else quoted)
        literal.append(r"\$(?P<tag>(?:[^\W\d]\w*)?)\$[\s\S]*?(?:\$(?P=tag)\$|\Z)")  # dollar quote
    placeholders = [
        r"%\(\w{1,200}\)s|%[sd%]",  # pyformat, format
        r"::",  # PostgreSQL cast: not a :name placeholder
        r"[:@$?]\w+|\?",  # :name, :1, @name, $1, ?1, ?
    ]
    number = (r"(?P<number>0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
              r"(?P<tail>[\w$]*)")
    word = r"(?P<word>[^\W\d][\w$]*)"
    parts = [*(f"(?:{part})" for part in keep), f"(?P<literal>{'|'.join(literal)})",
             *(f"(?:{part})" for part in placeholders), number, word]
    return re.compile("|".join(parts))


_patterns: dict[tuple[str, bool], re.Pattern[str]] = {}
"""Compiled at first use, not at import: the agent boots inside the app's imports."""
_BOOLEANS: Final = frozenset({"TRUE", "FALSE"})
_OPERATOR_WORDS: Final = frozenset({"LIKE", "GLOB", "THEN", "ELSE", "IS"})
_SEPARATOR: Final = r"\s*,\s*"
_cache: dict[tuple[str, str], str] = {}
_CACHE_SIZE: Final = 2048
_CACHED_LENGTH: Final = 8192
"""Longer statements are not kept (2,048 of them could hold hundreds of MB); they are read again each time."""
TEXT_LIMIT: Final = 100_000
"""Longer statements (a bulk INSERT of literals) are replaced whole by their first word and ``?``: the
conventions' sanitizing would leave nothing of interest, and the cost would grow with every such statement."""


def _literal_spans(text: str, dialect: str, backslash: bool) -> list[tuple[int, int]]:
    pattern = _patterns.get((dialect, backslash))
    if pattern is None:
        pattern = _patterns[dialect, backslash] = _pattern(dialect, backslash)
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        group = match.lastgroup
        if (group == "literal"
                or (group == "tail" and not match.group("tail"))  # a number, unless letters follow: 2fa_codes
                or (group == "word" and match.group("word").upper() in _BOOLEANS)
                or (group == "quoted" and _compared(text, match.start(), match.end()))):
            spans.append(match.span())
    return spans


def _compared(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is compared to or matched against: SQLite reads ``"x"`` as a string when no
    column has that name, and ``WHERE password = "hunter2"`` runs, so after an operator (``=``, ``<``, ``>``,
    ``LIKE``, ``GLOB``, ``IS``, ``THEN``, ``ELSE``) ``"..."`` is taken for a literal there, unless it
    qualifies a name (``= "tag"."id"``, Django's joins)."""
    if text.startswith(".", end):
        return False
    index = start - 1
    while index >= 0 and text[index].isspace():
        index -= 1
    if index < 0:
        return False
    if text[index] in "=<>":
        return True
    last = index + 1
    while index >= 0 and last - index <= 5 and text[index].isalpha():
        index -= 1
    return text[index + 1:last].upper() in _OPERATOR_WORDS and (index < 0 or not text[index].isalnum())


def _union(first: list[tuple[int, int]], second: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans either list covers, merged where they overlap (both lists are sorted)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(first + second):
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _after_in(text: str, start: int) -> bool:
    """Whether ``text[:start]`` ends with ``IN (`` (any spacing, any case)."""
    index = start - 1
    while index >= 0 and text[index].isspace():
        index -= 1
    if index < 0 or text[index] != "(":
        return False
    index -= 1
    while index >= 0 and text[index].isspace():
        index -= 1
    if index < 1 or text[index - 1:index + 1].upper() != "IN":
        return False
    return index < 2 or not (text[index - 2].isalnum() or text[index - 2] in "_$")


def _collapse_in_lists(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``IN (?, ?, ?)`` of literals only -> one span covering the list."""
    separator = _patterns.get(("separator", False))
    if separator is None:
        separator = _patterns["separator", False] = re.compile(_SEPARATOR)
    collapsed: list[tuple[int, int]] = []
    index, count = 0, len(spans)
    while index < count:
        start, end = spans[index]
        last = index
        while last + 1 < count and separator.fullmatch(text, end, spans[last + 1][0]):
            last += 1
            end = spans[last][1]
        if last > index and _after_in(text, start) and text[end:end + 200].lstrip().startswith(")"):
            collapsed.append((start, end))
        else:
            collapsed.extend(spans[index:last + 1])
        index = last + 1
    return collapsed


def command_head(command: str) -> tuple[str, int]:
    """A Redis command line's name (with its subcommand: ``CONFIG GET``) and how many words follow it.

    Why: contrib's redis instrumentation replaces every argument by ``?`` but keeps the first one whole, and
    redis-py accepts a whole command in it (``execute_command("SET key value")``), so the value reached the
    span's name and ``db.query.text``."""
    words = command.split()
    if not words:
        return "", 0
    kept = 2 if len(words) > 1 and words[0].upper() in _CONTAINER_COMMANDS else 1
    return " ".join(words[:kept]), len(words) - kept


def _redis(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        head, rest = command_head(line)
        lines.append(" ".join([head] + ["?"] * rest) if head else line)
    return "\n".join(lines)


def _sanitize(text: str, dialect: str) -> str:
    if dialect == REDIS:
        return _redis(text[:TEXT_LIMIT])
    if len(text) > TEXT_LIMIT:
        words = text.split(None, 1)
        return f"{words[0][:100]} ?" if words else "?"
    spans = _literal_spans(text, dialect, dialect == MYSQL)
    if "\\" in text:  # the other reading of backslashes too: either's literals go
        spans = _union(spans, _literal_spans(text, dialect, dialect != MYSQL))
    if not spans:
        return text
    spans = _collapse_in_lists(text, spans)
    parts: list[str] = []
    position = 0
    for start, end in spans:
        parts.append(text[position:start])
        parts.append("?")
        position = end
    parts.append(text[position:])
    return "".join(parts)


def sanitize(text: str, dialect: str = STANDARD) -> str:
    """``text`` with every literal replaced by ``?`` (the same object when it has none); cached."""
    if len(text) > _CACHED_LENGTH:
        clean = _sanitize(text, dialect)
        return text if clean == text else clean
    key = (text, dialect)
    found = _cache.get(key)
    if found is not None:
        return found
    clean = _sanitize(text, dialect)
    if clean == text:
        clean = text
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[key] = clean
    return clean
