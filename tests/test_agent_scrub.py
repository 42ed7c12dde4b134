"""Scrubbing: secrets planted in a real request never leave the app, in OTLP to a collector or in local files.

A Flask app under ``obs run -- gunicorn -w 2`` gets requests carrying secrets in the query string, the
Authorization, Cookie and X-API-Key headers (captured), sets a session cookie, makes outgoing calls with
secrets in their URLs, logs an exception holding a database URL with its password, and lets one escape the
view. Every byte the receiver got, and every file under ``.obs/``, is searched for the secrets; the
non-secret parts (parameter names, hosts) stay. With ``OBS_SCRUB=off`` the same secrets are found, which
shows the search would see them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest
from obs.agent._support.scrub import REDACTED_VALUE, Scrubber, scrub_text
from obs.agent.settings import SettingsError, load_settings

from examples.launch import free_port, wait_until_answers
from tests.agent_run import OBS, clean_environment, stop_process_group
from tests.otlp_receiver import OTLPReceiver

SECRETS = {
    "query token": "QTOKEN-a1x9",
    "query api_key": "QAPIKEY-b2x9",
    "Authorization header": "HBEARER-c3x9",
    "Cookie header": "HCOOKIE-d4x9",
    "X-API-Key header": "HAPIKEY-e5x9",
    "Set-Cookie header": "SETCOOKIE-f6x9",
    "outgoing api_key": "OUTKEY-g7x9",
    "outgoing access_token": "OUTTOKEN-h8x9",
    "outgoing URL password": "OUTPASS-i9x9",
    "logged exception's database password": "DSNPASS-j1x9",
    "escaping exception's database password": "ESCPASS-k2x9",
    "log body's database password": "BODYPASS-l3x9",
}

APP = """
    import logging
    import requests
    from flask import Flask, make_response

    app = Flask(__name__)
    log = logging.getLogger("shop.payments")
    OUT = "{out}"


    @app.get("/pay")
    def pay():
        for url in (f"{{OUT}}/health?api_key={OUTKEY}&access_token={OUTTOKEN}&page=1",
                    OUT.replace("http://", "http://caller:{OUTPASS}@") + "/health"):
            try:
                requests.get(url, timeout=5)
            except requests.RequestException:
                pass
        try:
            raise ConnectionError("could not connect to postgresql://shop:{DSNPASS}@db.internal:5432/shop")
        except ConnectionError:
            log.exception("payment database unreachable")
        log.warning("retrying with postgresql://shop:{BODYPASS}@db.internal/shop")
        answer = make_response("paid")
        answer.set_cookie("session", "{SETCOOKIE}")
        return answer


    @app.get("/boom")
    def boom():
        raise RuntimeError("cannot reach postgresql://shop:{ESCPASS}@db.internal/shop")
"""

CAPTURE = {
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "Authorization,Cookie,X-API-Key",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE": "Set-Cookie",
    "OTEL_TRACES_SAMPLER": "always_on",
}


def _write_app(folder: Path, out: str) -> None:
    names = {"OUTKEY": SECRETS["outgoing api_key"], "OUTTOKEN": SECRETS["outgoing access_token"],
             "OUTPASS": SECRETS["outgoing URL password"],
             "DSNPASS": SECRETS["logged exception's database password"],
             "BODYPASS": SECRETS["log body's database password"],
             "SETCOOKIE": SECRETS["Set-Cookie header"],
             "ESCPASS": SECRETS["escaping exception's database password"]}
    (folder / "shopapp.py").write_text(textwrap.dedent(APP).format(out=out, **names))
    (folder / "pyproject.toml").write_text('[project]\nname = "shop"\n')


def _get(url: str, headers: Mapping[str, str]) -> None:
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        error.read()


def _serve(folder: Path, env: Mapping[str, str], until: object = None) -> str:
    """The app under obs run with gunicorn -w 2; the planted requests; SIGTERM; its output."""
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [OBS, "run", "--", gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "shopapp:app"]
    process = subprocess.Popen(command, cwd=folder, env=dict(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{base}/ready", process)
        headers = {"Authorization": f"Bearer {SECRETS['Authorization header']}",
                   "Cookie": f"session={SECRETS['Cookie header']}; theme=dark",
                   "X-API-Key": SECRETS["X-API-Key header"]}
        query = f"token={SECRETS['query token']}&api_key={SECRETS['query api_key']}&page=2"
        for _ in range(2):
            _get(f"{base}/pay?{query}", headers)
            _get(f"{base}/boom?{query}", headers)
    finally:
        output = stop_process_group(process, timeout=30, leader_only=True)
    return output


def _found(data: bytes) -> list[str]:
    return [what for what, secret in SECRETS.items() if secret.encode() in data]


def test_no_secret_reaches_the_collector(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """Over OTLP/HTTP: none of the planted secrets is in any byte the collector received, while what makes
    the telemetry useful is there: the parameter names, the database host, the exception, the log line."""
    _write_app(tmp_path, receiver.endpoint)
    env = clean_environment({**CAPTURE, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    output = _serve(tmp_path, env)
    assert "Traceback (most recent call last)" in output, "the escaping exception went through the app"
    data = receiver.raw()
    assert b"payment database unreachable" in data and b"cannot reach postgresql://shop:" in data, output
    assert _found(data) == []
    assert b"token=REDACTED&api_key=REDACTED&page=2" in data
    assert b"postgresql://shop:REDACTED@db.internal" in data
    assert b"http.request.header.authorization" in data and b"http.response.header.set_cookie" in data
    assert b"/health?api_key=REDACTED&access_token=REDACTED&page=1" in data


def test_no_secret_reaches_the_local_files(tmp_path: Path) -> None:
    """Without a collector, telemetry written to .obs/telemetry/ holds none of the secrets either."""
    _write_app(tmp_path, "http://127.0.0.1:9")
    files = {f"OTEL_{signal}_EXPORTER": "file" for signal in ("TRACES", "METRICS", "LOGS")}
    output = _serve(tmp_path, clean_environment({**CAPTURE, **files}))
    written = b"".join(path.read_bytes() for path in (tmp_path / ".obs").rglob("*") if path.is_file())
    assert b"payment database unreachable" in written, output
    assert b"token=REDACTED" in written
    assert _found(written) == []


def test_scrubbing_off_lets_the_secrets_through(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """OBS_SCRUB=off: the same run exports every planted secret, so the searches above would see them."""
    _write_app(tmp_path, receiver.endpoint)
    env = clean_environment({**CAPTURE, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OBS_SCRUB": "off"})
    _serve(tmp_path, env)
    missing = set(SECRETS) - set(_found(receiver.raw()))
    # requests moves URL credentials to an Authorization header it sends (not captured on the way out)
    assert missing <= {"outgoing URL password"}


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("url.query", "token=abc123&page=2", "token=REDACTED&page=2"),
    ("url.full", "https://u:pw@api.example/p?access_token=x&sig=y&q=1",
     "https://u:REDACTED@api.example/p?access_token=REDACTED&sig=REDACTED&q=1"),
    ("http.target", "/cb?code=4/0AX4XfWhAbCdEfGhIjKl&state=xyz", "/cb?code=REDACTED&state=xyz"),
    ("url.query", "code=FR&lang=fr", "code=FR&lang=fr"),
    ("url.query", "stripe_key=sk_1&X-Amz-Signature=ab12", "stripe_key=REDACTED&X-Amz-Signature=REDACTED"),
    ("http.request.header.authorization", ("Bearer abc",), [REDACTED_VALUE]),
    ("http.request.header.x-api-key", "k-123", REDACTED_VALUE),
    ("db.password", "hunter2", REDACTED_VALUE),
    ("user.credit_card", "4111", REDACTED_VALUE),
    ("gen_ai.usage.input_tokens", 12, 12),
    ("exception.message", "DSN postgresql://u:p4ss@db/x failed", "DSN postgresql://u:REDACTED@db/x failed"),
    ("message", "sent Authorization: Bearer eyJhbGciOi.x.y", "sent Authorization: Bearer REDACTED"),
    ("http.route", "/users/<id>", "/users/<id>"),
])
def test_scrubber_rules(key: str, value: object, expected: object) -> None:
    """Each rule replaces the secret and keeps the rest: names of parameters, hosts, users, other
    parameters; a country ``code`` is not an OAuth code; token counts are not tokens."""
    assert Scrubber().value(key, value) == expected


def test_scrubber_settings() -> None:
    """Extra patterns scrub more keys and parameters; the allow list keeps a key or parameter; off scrubs
    nothing; an unchanged value is the very same object (nothing copied on the hot path)."""
    custom = Scrubber(extra_patterns=["tenant"], allow=["session.id", "sig"])
    assert custom.value("shop.tenant", "acme") == REDACTED_VALUE
    assert custom.value("url.query", "tenant=acme&sig=1") == "tenant=REDACTED&sig=1"
    assert custom.value("session.id", "s-1") == "s-1"
    assert Scrubber(enabled=False).value("db.password", "hunter2") == "hunter2"
    sanitized = ["[REDACTED]"]
    assert Scrubber().value("http.request.header.authorization", sanitized) is sanitized
    clean = "GET /items?page=2"
    assert Scrubber().text(clean) is clean
    attributes = {"http.route": "/a", "url.query": "page=1"}
    assert Scrubber().attributes(attributes) is attributes
    assert scrub_text("redis://:s3cret@cache:6379/0") == "redis://:REDACTED@cache:6379/0"


def test_scrub_settings_are_read_like_the_others(tmp_path: Path) -> None:
    """``[tool.obs]`` and ``OBS_*`` set the scrubber: the off switch, extra patterns (checked as regular
    expressions: a bad one is a SettingsError naming the setting), the allow list."""
    (tmp_path / "pyproject.toml").write_text('[tool.obs]\nscrub_allow = ["session.id"]\nscrub = true\n')
    environ = {"OBS_SCRUB_PATTERNS": "tenant,^x-org", "OBS_SCRUB": "off"}
    settings = load_settings(environ=environ, cwd=tmp_path)
    assert (settings.scrub, settings.scrub_patterns, settings.scrub_allow) == (
        False, ("tenant", "^x-org"), ("session.id",))
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"OBS_SCRUB_PATTERNS": "(unclosed"}, cwd=tmp_path)
    assert raised.value.setting == "scrub_patterns" and "not a regular expression" in str(raised.value)


def test_scrubbing_takes_linear_time() -> None:
    """Hostile text cannot make the scrubber spin: a 200 KB dotted run before a URL, or one full of query
    pairs, is scrubbed in well under a second (a guard against a quadratic search, not a benchmark)."""
    import time

    scrubber = Scrubber()
    for text in (("a" * 50 + ".") * 4000 + "redis://u:p@h", "?" + "&a=" * 60_000 + "&token=x"):
        started = time.monotonic()
        scrubbed = scrubber.text(text)
        assert time.monotonic() - started < 1.0
        assert scrubbed.endswith(("://u:REDACTED@h", "&token=REDACTED"))
