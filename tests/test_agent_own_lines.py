"""obs's own lines never print a credential or a flood: header values are not echoed, URL passwords are
masked, long values are cut with their length said. Each case runs a real app under ``obs run``."""

from __future__ import annotations

from pathlib import Path

import pytest
from obs.agent.settings import shown

from examples.launch import free_port
from tests.agent_run import clean_environment, python

APP = "import logging; logging.getLogger('app').warning('hello')"


@pytest.mark.parametrize("headers", [
    "Authorization: Bearer HDRSECRET-1x9",
    "Authorization=Bearer HDRSECRET-1x9,X-Api-Key HDRSECRET-1x9",
])
def test_malformed_headers_are_named_not_echoed(headers: str, tmp_path: Path) -> None:
    """A malformed OTEL_EXPORTER_OTLP_HEADERS (a colon instead of `=`, a pair without `=`) gets one line that
    names the variable and shows the right form, without the value; the app runs as before."""
    ran = python(APP, clean_environment({"OTEL_EXPORTER_OTLP_HEADERS": headers}), tmp_path)
    assert ran.returncode == 0 and "hello" in ran.stderr
    (line,) = ran.obs_lines()
    assert "OTEL_EXPORTER_OTLP_HEADERS" in line and "Authorization=Bearer <token>" in line
    assert "HDRSECRET" not in ran.stderr + ran.stdout


def test_an_unreachable_endpoint_is_shown_without_its_password(tmp_path: Path) -> None:
    """An endpoint with user:password that does not answer: the line names it with the password masked."""
    endpoint = f"http://shipper:URLSECRET-2x9@127.0.0.1:{free_port()}"
    ran = python(APP, clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}), tmp_path)
    assert ran.returncode == 0
    assert any("http://shipper:REDACTED@127.0.0.1:" in line for line in ran.obs_lines()), ran.stderr
    assert "URLSECRET" not in ran.stderr + ran.stdout


def test_a_bad_endpoint_is_shown_without_its_password(tmp_path: Path) -> None:
    """An endpoint that is not an http(s) URL is refused in one line that masks its password."""
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://shipper:URLSECRET-3x9@collector:21"})
    ran = python(APP, env, tmp_path)
    (line,) = ran.obs_lines()
    assert "ftp://shipper:REDACTED@collector:21" in line and "URLSECRET" not in ran.stderr


def test_a_huge_setting_value_is_cut_with_its_length(tmp_path: Path) -> None:
    """A 1 MB bad value in [tool.obs] gets one short line saying how long the value was."""
    (tmp_path / "pyproject.toml").write_text(f'[tool.obs]\nlog_level = "{"x" * 1_000_000}"\n')
    ran = python(APP, clean_environment(), tmp_path)
    (line,) = ran.obs_lines()
    assert len(line) < 600 and "1,000,000 characters" in line and "log_level" in line


def test_shown_values() -> None:
    """What a message may show of a value: quoted, URL passwords masked (every URL in it), cut long."""
    assert shown("info") == "'info'"
    assert shown("https://u:p@h:4318/v1,http://a:b@c") == "'https://u:REDACTED@h:4318/v1,http://a:REDACTED@c'"
    assert shown("http://h:4318/v1/traces") == "'http://h:4318/v1/traces'"
    assert shown("y" * 500).endswith("... (500 characters)") and len(shown("y" * 500)) < 160
    assert shown(3) == "3"
