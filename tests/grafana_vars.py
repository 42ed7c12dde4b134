"""Grafana's template-variable substitution, for running a dashboard's queries outside Grafana.

Grafana replaces ``$name``, ``${name}`` and ``${name:format}`` before a query reaches the datasource; the
tests do the same with fixed values. A variable the test did not give a value is an error, so a new variable
in a dashboard cannot slip through untested. ``${1}`` (a regex group in ``label_replace``) is not a variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["BUILTINS", "substitute"]

BUILTINS: Mapping[str, str] = {"__rate_interval": "1m", "__interval": "15s", "__auto": "15s", "__range": "5m"}
"""Grafana's own interval variables, with values that fit a test run of a few seconds of data."""

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every template variable replaced from ``values`` (then :data:`BUILTINS`)."""
    known = {**BUILTINS, **values}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():
            return match.group(0)
        if name not in known:
            raise KeyError(f"no test value for template variable ${name} in {text!r}")
        return known[name]

    return _VARIABLE.sub(replace, text)
