"""LogQL and TraceQL targets parse with Grafana's own grammars (the ones its Loki and Tempo editors use)."""

from __future__ import annotations

import json
from pathlib import Path

from obs.agent.settings import load_settings
from obs.dashboards import queries, render

from tests.grafana_vars import substitute
from tests.querylang import parse_errors

VALUES = {
    "service": "shop",
    "environment": "staging",
    "instance": ".*",
    "search": "",
    "min_duration": "250ms",
    "exception_type": ".+",
}


def test_every_logql_and_traceql_target_parses(tmp_path: Path) -> None:
    """Each Loki and Tempo query of every dashboard, variables substituted, parses without an error node."""
    found = []
    for path, text in render(load_settings({}, environ={}, cwd=tmp_path)).items():
        if path.endswith(".json"):
            found += [query for query in queries(json.loads(text)) if query.language in ("logql", "traceql")]
    assert {query.language for query in found} == {"logql", "traceql"}
    errors = parse_errors([(query.language, substitute(query.text, VALUES)) for query in found])
    assert {str(query): where for query, where in zip(found, errors, strict=True) if where} == {}


def test_the_grammars_catch_mistakes() -> None:
    """The checker is not vacuous: a line filter written as a label stage, or a dangling &&, are errors."""
    broken = [
        ("logql", '{service_name="shop"} | |= "x"'),
        ("logql", 'sum by (severity_text) (count_over_time({service_name="shop"}))'),
        ("traceql", '{ resource.service.name = "shop" && }'),
    ]
    assert all(parse_errors(broken))
