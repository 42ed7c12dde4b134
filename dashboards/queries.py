"""Every query of a dashboard's JSON, with its language: what the tests run against real backends.

Panel targets and query variables are both listed, so that a test can evaluate each one after substituting
the template variables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["LANGUAGES", "Language", "Query", "queries"]

Language = Literal["promql", "logql", "traceql"]
LANGUAGES: Final[dict[str, Language]] = {"prometheus": "promql", "loki": "logql", "tempo": "traceql"}
"""Datasource plugin id -> the query language its targets are written in."""


@dataclass(frozen=True)
class Query:
    """One query: where it is (dashboard uid, panel title or ``$variable``, refId) and what it says."""

    dashboard: str
    panel: str
    ref_id: str
    language: Language
    text: str
    instant: bool = False

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}: {self.text}"


def _language(*refs: Any) -> Language | None:
    for ref in refs:
        if isinstance(ref, dict) and ref.get("type") in LANGUAGES:
            return LANGUAGES[ref["type"]]
    return None


def _panels(panels: Any) -> Iterator[dict[str, Any]]:
    for panel in panels if isinstance(panels, list) else []:
        if isinstance(panel, dict):
            yield panel
            yield from _panels(panel.get("panels"))


def queries(document: Mapping[str, Any]) -> list[Query]:
    """Each PromQL, LogQL and TraceQL query of the dashboard: panel targets, then query variables."""
    uid = str(document.get("uid", ""))
    found: list[Query] = []
    for panel in _panels(document.get("panels")):
        for target in panel.get("targets") or []:
            language = _language(target.get("datasource"), panel.get("datasource"))
            text = target.get("query") if language == "traceql" else target.get("expr")
            if language is not None and isinstance(text, str):
                found.append(
                    Query(
                        uid,
                        str(panel.get("title", "")),
                        str(target.get("refId", "")),
                        language,
                        text,
                        bool(target.get("instant", False)),
                    )
                )
    for variable in (document.get("templating") or {}).get("list") or []:
        language = _language(variable.get("datasource"))
        text = variable.get("query")
        if variable.get("type") == "query" and language is not None and isinstance(text, str):
            found.append(Query(uid, f"${variable['name']}", "", language, text))
    return found
