"""The example apps, served by gunicorn and uvicorn as users run them, over real HTTP on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from examples import traffic
from examples.launch import APPS, ROOT, free_port, wait_until_answers
from examples.shop import DB_ENV, UPSTREAM_ENV
from examples.upstream import Upstream, delay_s
from tests.agent_run import stop_process_group


@dataclass(frozen=True)
class Served:
    url: str
    upstream: Upstream


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return int(error.code), json.loads(body) if body.startswith(b"{") else body.decode()


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBS_", "EXAMPLES_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture(scope="module", params=sorted(APPS))
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One example app, plain (no agent), on a free port with its own database and a running upstream."""
    app = APPS[request.param]
    port = free_port()
    folder = tmp_path_factory.mktemp(app.name)
    with Upstream() as upstream:
        env = _environment(**{DB_ENV: str(folder / "shop.sqlite3"), UPSTREAM_ENV: upstream.url})
        with (folder / "server.log").open("wb") as log:
            process = subprocess.Popen(app.command(port), cwd=folder, env=env, stdout=log, stderr=log,
                                       start_new_session=True)
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/get", process)
            yield Served(f"http://127.0.0.1:{port}", upstream)
        finally:
            stop_process_group(process, timeout=20, leader_only=True)


def test_get_echoes_the_request_like_httpbin(served: Served) -> None:
    """/get answers with the query arguments, the request headers, the caller and the URL."""
    status, body = _get(f"{served.url}/get?color=blue")
    assert status == 200
    assert body["args"] == {"color": "blue"}
    assert {key.lower(): value for key, value in body["headers"].items()}["host"] == served.url.split("//")[1]
    assert body["origin"] == "127.0.0.1"
    assert body["url"] == f"{served.url}/get?color=blue"


def test_items_come_from_the_sqlite_database(served: Served) -> None:
    """/items lists the seeded catalogue, /items/<id> reads one row, an unknown id is a 404."""
    status, listing = _get(f"{served.url}/items")
    assert status == 200
    assert [item["id"] for item in listing] == [1, 2, 3, 4, 5]
    assert _get(f"{served.url}/items/3") == (200, {"id": 3, "name": "mug", "price_cents": 650})
    assert _get(f"{served.url}/items/999")[0] == 404


def test_stock_calls_the_upstream_service(served: Served) -> None:
    """/items/<id>/stock joins the row with the upstream's answer for that item."""
    status, body = _get(f"{served.url}/items/4/stock")
    assert (status, body["name"], body["item_id"], body["in_stock"]) == (200, "tray", 4, (4 * 7) % 11)


def test_fail_is_a_500(served: Served) -> None:
    """/fail raises inside the app, and the server turns it into a 500."""
    assert _get(f"{served.url}/fail")[0] == 500


def test_traffic_sends_a_bounded_mix_with_errors(served: Served) -> None:
    """Two rounds of the mix: eight reads answered 200, one 404 and one 500 each round, nothing lost."""
    counts = traffic.send(served.url, 2 * len(traffic.MIX))
    assert dict(counts) == {200: 16, 404: 2, 500: 2}


def test_upstream_down_is_a_502_that_says_how_to_fix_it(tmp_path: Path) -> None:
    """With nothing listening at the upstream's URL, the stock route answers 502 naming the URL and the
    variable to set, instead of hanging or failing with a bare 500."""
    dead = f"http://127.0.0.1:{free_port()}"
    app = APPS["flask"]
    port = free_port()
    env = _environment(**{DB_ENV: str(tmp_path / "shop.sqlite3"), UPSTREAM_ENV: dead})
    process = subprocess.Popen(app.command(port), cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/get", process)
        status, body = _get(f"http://127.0.0.1:{port}/items/2/stock")
    finally:
        stop_process_group(process, timeout=20, leader_only=True)
    assert status == 502
    assert dead in body["error"]
    assert UPSTREAM_ENV in body["fix"]


def test_upstream_answers_stock_slowly_for_some_items() -> None:
    """The upstream serves /health and /stock/<id>; its delay grows with the id (5 to 45 ms) so traces
    differ in length; unknown paths are 404."""
    with Upstream() as upstream:
        assert _get(f"{upstream.url}/health") == (200, {"status": "ok"})
        assert _get(f"{upstream.url}/stock/3") == (200, {"item_id": 3, "in_stock": 10})
        assert _get(f"{upstream.url}/nope")[0] == 404
    assert [round(delay_s(i), 3) for i in (5, 1, 4)] == [0.005, 0.015, 0.045]


def test_traffic_reports_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    """Pointed at a port where nothing listens, traffic counts every request as unanswered and exits 1
    with a line that says so."""
    url = f"http://127.0.0.1:{free_port()}"
    assert traffic.main(["--url", url, "--requests", "3"]) == 1
    captured = capsys.readouterr()
    assert "3 requests: 3 x no answer" in captured.out
    assert f"nothing answered at {url}" in captured.err


def test_traffic_mix_is_bounded_and_repeats() -> None:
    """The mix is cut to the number asked for and repeats in order."""
    assert traffic.paths(3) == list(traffic.MIX[:3])
    assert traffic.paths(len(traffic.MIX) + 1)[-1] == traffic.MIX[0]
