"""The redaction processors drop credential headers and mask credentials in URLs.

No collector binary runs here, so the test takes the patterns out of the rendered config and applies them the
way the collector does (after its ``$$`` unescaping), with Python's re, whose syntax agrees with Go's RE2 for
the constructs used (classes, alternation, ``(?i)``, ``^``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from obs.collector import render

from tests.observability_tree import make_settings

_STATEMENT = re.compile(
    r'^replace_pattern\((?P<target>\w+)\.attributes\["(?P<attribute>[^"]+)"\], "(?P<pattern>[^"]*)", '
    r'"(?P<replacement>[^"]*)"\) where .+ != nil$'
)


@pytest.fixture(scope="module")
def processors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    files = render(make_settings(tmp_path_factory.mktemp("project"), service_name="shop"))
    config = yaml.safe_load(files["collector/config.yaml"])
    return dict(config["processors"])


def _mask(processors: dict[str, object], context: str, attribute: str, value: str) -> str:
    transform = processors["transform/redact"]
    assert isinstance(transform, dict)
    for statement in transform[f"{context}_statements"]:
        match = _STATEMENT.match(statement)
        assert match, f"unexpected statement shape: {statement}"
        if match["attribute"] != attribute:
            continue
        # The collector turns `$$` into `$`; Go's `${1}` is Python's `\g<1>`.
        replacement = match["replacement"].replace("$$", "$").replace("${1}", r"\g<1>")
        value = re.sub(match["pattern"], replacement, value)
    return value


@pytest.mark.parametrize("context", ["trace", "log"])
def test_credentials_in_urls_are_masked(processors: dict[str, object], context: str) -> None:
    """user:password@ and secret query parameters are replaced; the rest of the URL stays readable."""
    url = "https://alice:s3cret@api.example/v1/items?page=2&token=abc123&api_key=XYZ#top"
    masked = _mask(processors, context, "url.full", url)
    assert masked == "https://REDACTED@api.example/v1/items?page=2&token=REDACTED&api_key=REDACTED#top"


def test_secret_query_parameters_are_masked_in_url_query(processors: dict[str, object]) -> None:
    """url.query has no leading `?`: its first parameter is masked too, and look-alike names are not."""
    masked = _mask(processors, "trace", "url.query", "password=hunter2&monkey=1&sort=asc")
    assert masked == "password=REDACTED&monkey=1&sort=asc"


def test_database_connection_strings_lose_their_password(processors: dict[str, object]) -> None:
    """A DSN with credentials keeps its host and database but not its user and password."""
    masked = _mask(processors, "trace", "db.connection_string", "postgresql://app:pw@db:5432/shop")
    assert masked == "postgresql://REDACTED@db:5432/shop"


def test_credential_headers_are_deleted_and_others_kept(processors: dict[str, object]) -> None:
    """The attributes processor deletes Authorization, Cookie and API-key headers, whatever their case."""
    attributes = processors["attributes/redact"]
    assert isinstance(attributes, dict)
    (action,) = attributes["actions"]
    assert action["action"] == "delete"
    pattern = re.compile(action["pattern"])
    for key in (
        "http.request.header.authorization",
        "http.request.header.Cookie",
        "http.response.header.set_cookie",
        "http.request.header.x-api-key",
        "http.request.header.proxy_authorization",
    ):
        assert pattern.search(key), key
    for key in (
        "http.request.header.accept",
        "http.request.method",
        "url.full",
        "http.request.header.cookies",
    ):
        assert not pattern.search(key), key


def test_redaction_runs_in_every_pipeline_of_every_profile(tmp_path: Path) -> None:
    """No profile lets a signal skip the redaction processors."""
    files = render(make_settings(tmp_path))
    for path in ("collector/config.yaml", "collector/gateway.yaml", "collector/otlp.yaml"):
        for pipeline in yaml.safe_load(files[path])["service"]["pipelines"].values():
            assert {"attributes/redact", "transform/redact"} <= set(pipeline["processors"])
