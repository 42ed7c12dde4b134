"""Scrubbing: secrets are replaced before telemetry leaves the process or reaches ``.obs/telemetry/``.

What is replaced (the rest stays, so the telemetry keeps its use):

- (by ``[REDACTED]``) the whole value of an attribute whose KEY looks sensitive (:data:`KEY_PATTERNS`, as
  Logfire does: ``password``, ``secret``, ``token``, ``api_key``, ``auth``, ``credential``, ``private_key``,
  ``session``, ``cookie``, ``csrf``, ``jwt``, ``ssn``, ``credit_card``...). Captured headers are attributes
  named ``http.request.header.<name>``, so ``Authorization``, ``Cookie``, ``Set-Cookie`` and ``X-API-Key`` go
  too;
- (by ``REDACTED``, here and below) the value of a sensitive query parameter (:data:`QUERY_NAMES`:
  ``token``, ``access_token``, ``api_key``, ``key``, ``password``, ``secret``, ``sig``, ``signature``,
  ``auth``, ``session``, cloud signing parameters, ``code`` when it looks like an OAuth code...) in
  URL-bearing attributes (``url.query``, ``url.full``, ``http.target``, ``http.url``, ``url.original``,
  referers, any key ending in ``url``) and in URLs inside any text: ``?token=REDACTED&page=2``;
- the password of a URL with credentials in any text (``postgresql://user:REDACTED@db/x``): attribute
  values, span events, log bodies, ``exception.message``, ``exception.stacktrace``, status descriptions;
- the token after ``Bearer`` / ``Basic`` in any text; the literals of a statement line PostgreSQL quotes in an
  error (``LINE 1: UPDATE accounts SET password = ?``);
- (by ``?``) every literal of the SQL text in ``db.query.text`` and ``db.statement``, read in the dialect of
  the span's ``db.system.name`` (:mod:`obs.agent._support.sql_text`: strings, numbers, booleans; identifiers,
  keywords and placeholders stay), as the database conventions ask.

Cost: keys are classified once (a dict lookup after that); a value is only searched with a regular
expression when a substring test (``://`` and ``@``, ``=``, ``earer ``, ``asic ``) says it could hold a
secret, and rewritten only when a substring test found a word of a sensitive parameter name; the span
encoder caches encoded attributes, so a repeated clean value costs nothing at all.

Standard library only: :func:`scrub_text` is also used for obs's own lines and error-group messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from obs.agent._support import sql_text

__all__ = [
    "KEY_PATTERNS",
    "QUERY_NAMES",
    "REDACTED",
    "REDACTED_VALUE",
    "Scrubber",
    "configure",
    "current",
    "scrub_text",
    "shorten",
]

REDACTED: Final = "REDACTED"
"""What replaces a secret inside a URL or a text (as the contrib instrumentations redact URLs)."""
REDACTED_VALUE: Final = "[REDACTED]"
"""What replaces a whole attribute value (as the contrib instrumentations sanitize captured headers)."""

KEY_PATTERNS: Final = (
    "password", "passwd", "pwd", "secret", r"auth(?!ors?\b)", "credential", r"private[._ -]?key",
    r"api[._ -]?key", "session", "cookie", r"token(?!s\b)", r"social[._ -]?security", r"credit[._ -]?card",
    r"(?:\b|_)csrf(?:\b|_)", r"(?:\b|_)xsrf(?:\b|_)", r"(?:\b|_)jwt(?:\b|_)", r"(?:\b|_)ssn(?:\b|_)",
    r"signature",
)
"""Attribute keys (searched, case-insensitive) whose whole value is replaced. Logfire's list plus ``token``
(not ``tokens``: GenAI token counts stay), ``pwd`` and ``signature``."""

QUERY_NAMES: Final = (
    "token", "access_token", "refresh_token", "id_token", "auth_token", "api_key", "apikey", "api-key",
    "key", "password", "passwd", "pwd", "pass", "secret", "client_secret", "sig", "signature", "auth",
    "session", "sessionid", "session_id", "jwt", "credential", "credentials",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
)
"""Query parameter names (exact, case-insensitive) whose value is replaced; also any name ending in
``_token``, ``_key``, ``_secret`` or ``_password`` (``stripe_key``). ``code`` is replaced when it looks like
an OAuth authorization code: 16 characters or more, or beside a ``state`` parameter."""

URL_KEYS: Final = frozenset({
    "url.query", "url.full", "url.original", "http.target", "http.url", "http.request.header.referer",
    "http.referer", "url.path",
})
"""Attributes holding a URL or a query string: their query parameters are scrubbed even without ``?``."""

_STEMS: Final = ("token", "key", "pass", "pwd", "secret", "sig", "auth", "session", "jwt", "cred", "code")
"""Every name of :data:`QUERY_NAMES`, every suffix rule and ``code`` contains one of these."""

class _Compiled:
    """A regular expression compiled at its first use: the agent boots inside the app's ``import logging``,
    and compiling its six patterns there cost a few ms to a process that may never log or trace (two
    threads compiling at once both get a working pattern)."""

    __slots__ = ("_flags", "_pattern", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._pattern: re.Pattern[str] | None = None

    def get(self) -> re.Pattern[str]:
        pattern = self._pattern
        if pattern is None:
            pattern = self._pattern = re.compile(self._source, self._flags)
        return pattern


_URL_CREDENTIALS: Final = _Compiled(r"(\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^\s/?#@:'\"<>]*:)([^\s/?#@'\"<>]+)(@)")
"""The scheme's length is bounded: unbounded, a long dotted run (``a.a.a...``) made the search quadratic."""
_BEARER: Final = _Compiled(r"(\b(?:[Bb]earer|[Bb]asic)\s+)([A-Za-z0-9._~+/=-]{6,})")
_STATEMENT_LINE: Final = _Compiled(r"^(LINE \d+: |.*\bat or near \")(.*)$", re.MULTILINE)
"""PostgreSQL's errors quote the line of the statement they are about (``LINE 1: UPDATE ... 'hunter2'``) and
the token they stopped at (``at or near "'hunter2'"``)."""
_QUERY_PAIR: Final = _Compiled(r"(^|[?&;])([^=&;#?\s'\"<>]+)=([^&;#\s'\"<>]*)")
_TEXT_QUERY_PAIR: Final = _Compiled(r"([?&;])([^=&;#?\s'\"<>/]+)=([^&;#\s'\"<>]*)")


def _names_source(names: Iterable[str], extra: Iterable[str]) -> str:
    exact = "|".join(re.escape(name) for name in names)
    suffixes = r"[\w.-]*[_.-](?:token|key|secret|password)"
    more = "".join(f"|(?:{pattern})" for pattern in extra)
    return rf"(?:{exact}|{suffixes}{more})"


class Scrubber:
    """Replaces secrets in attribute values and text; thread-safe (its caches only grow, then reset)."""

    def __init__(
        self, extra_patterns: Iterable[str] = (), allow: Iterable[str] = (), *, enabled: bool = True
    ) -> None:
        extra = tuple(extra_patterns)
        self.enabled = enabled
        self._allow = frozenset(name.lower() for name in allow)
        keys = "|".join(f"(?:{pattern})" for pattern in (*KEY_PATTERNS, *extra))
        self._keys = _Compiled(keys, re.IGNORECASE)
        self._query_names = _Compiled(_names_source(QUERY_NAMES, extra), re.IGNORECASE)
        if extra:  # the user's patterns: one that does not combine fails the boot, as it always did
            self._keys.get()
            self._query_names.get()
        self._any_name = bool(extra)
        """With extra patterns, any parameter name may be secret: no cheap pre-check then."""
        self._kinds: dict[str, int] = {}
        self._names: dict[str, bool] = {}

    # -- keys ---------------------------------------------------------------------------------------------

    def _kind(self, key: str) -> int:
        """0: an ordinary key; 1: its value is a URL or query string; 2: its whole value is secret; 3: SQL
        text."""
        kind = self._kinds.get(key)
        if kind is None:
            lowered = key.lower()
            if lowered in self._allow:
                kind = 0
            elif self._keys.get().search(lowered):
                kind = 2
            elif lowered in URL_KEYS or lowered.endswith("url"):
                kind = 1
            elif lowered in sql_text.QUERY_TEXT_KEYS:
                kind = 3
            else:
                kind = 0
            if len(self._kinds) > 4096:
                self._kinds.clear()
            self._kinds[key] = kind
        return kind

    def _secret_name(self, name: str) -> bool:
        known = self._names.get(name)
        if known is None:
            lowered = name.lower()
            known = lowered not in self._allow and self._query_names.get().fullmatch(lowered) is not None
            if len(self._names) > 4096:
                self._names.clear()
            self._names[name] = known
        return known

    # -- values -------------------------------------------------------------------------------------------

    def attributes(self, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
        """``attributes`` itself when nothing is secret, else a scrubbed copy."""
        if not self.enabled:
            return attributes
        changed: dict[str, Any] | None = None
        for key, value in attributes.items():
            clean = self.value(key, value, attributes)
            if clean is not value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = clean
        return attributes if changed is None else changed

    def value(self, key: str, value: Any, context: Mapping[str, Any] | None = None) -> Any:
        """``value`` of attribute ``key`` with its secrets replaced (the same object when it has none);
        ``context``: the attributes it is among (SQL text is read in the dialect of their
        ``db.system.name``)."""
        if not self.enabled:
            return value
        kind = self._kind(key)
        if kind == 2:
            if value is None or value == "" or value == REDACTED_VALUE or isinstance(value, bool):
                return value
            if isinstance(value, list | tuple):
                if all(item == REDACTED_VALUE for item in value):
                    return value
                return [REDACTED_VALUE] * len(value)
            return REDACTED_VALUE
        if isinstance(value, str):
            if kind == 3:
                return self.text(self.query_text(value, system_of(context)))
            return self._query(value) if kind == 1 else self.text(value)
        if isinstance(value, list | tuple) and any(isinstance(item, str) for item in value):
            cleaned = [self.text(item) if isinstance(item, str) else item for item in value]
            return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
        return value

    def query_text(self, text: str, system: object = None) -> str:
        """A statement of database ``system`` with its literals replaced by ``?`` (cached per statement)."""
        if not self.enabled:
            return text
        dialect = sql_text.dialect_of(system)
        return text if dialect is None else sql_text.sanitize(text, dialect)

    def text(self, text: str) -> str:
        """Free text (a message, a stack trace, a log body): URL credentials, URL query secrets, bearer
        tokens replaced; the same object when there were none."""
        if not self.enabled:
            return text
        result = text
        if "://" in result and "@" in result:
            result = _URL_CREDENTIALS.get().sub(rf"\1{REDACTED}\3", result)
        if "=" in result and "?" in result and self._may_name_a_secret(result):
            result = _TEXT_QUERY_PAIR.get().sub(self._pair, result)
        if "earer " in result or "asic " in result:
            result = _BEARER.get().sub(rf"\1{REDACTED}", result)
        if "LINE " in result or "at or near" in result:
            result = _STATEMENT_LINE.get().sub(_statement_line, result)
        return text if result == text else result

    def _query(self, text: str) -> str:
        """A URL or query string: every sensitive parameter, and URL credentials."""
        result = text
        if "=" in result and self._may_name_a_secret(result):
            result = _QUERY_PAIR.get().sub(self._pair, result)
        if "://" in result and "@" in result:
            result = _URL_CREDENTIALS.get().sub(rf"\1{REDACTED}\3", result)
        return text if result == text else result

    def _may_name_a_secret(self, text: str) -> bool:
        """The cheap pre-check: does ``text`` hold a word every sensitive parameter name contains?
        (Substring tests: an alternation of the same words in a case-insensitive regular expression is
        ten times slower.)"""
        if self._any_name:
            return True
        lowered = text.lower()
        return any(stem in lowered for stem in _STEMS)

    def _pair(self, match: re.Match[str]) -> str:
        lead, name, secret = match.group(1), match.group(2), match.group(3)
        if not secret or secret == REDACTED:
            return match.group(0)
        if self._secret_name(name) or (name.lower() == "code" and self._looks_like_oauth_code(match, secret)):
            return f"{lead}{name}={REDACTED}"
        return match.group(0)

    @staticmethod
    def _looks_like_oauth_code(match: re.Match[str], secret: str) -> bool:
        return len(secret) >= 16 or "state=" in match.string


def _statement_line(match: re.Match[str]) -> str:
    return match.group(1) + sql_text.sanitize(match.group(2))


def system_of(attributes: Mapping[str, Any] | None) -> object:
    """The ``db.system.name`` (or older ``db.system``) among ``attributes``, None if there is none."""
    if not attributes:
        return None
    return attributes.get("db.system.name") or attributes.get("db.system")


_current = Scrubber()


def configure(scrubber: Scrubber) -> None:
    """Make ``scrubber`` the process's scrubber (the agent does this from the settings at start)."""
    global _current
    _current = scrubber


def current() -> Scrubber:
    return _current


def scrub_text(text: str) -> str:
    """``text`` with URL credentials, secret query parameters and bearer tokens replaced, by the process's
    scrubber (the default one until the agent started): for messages built outside the encoders."""
    return _current.text(text)


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was: obs never prints a flood."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"
