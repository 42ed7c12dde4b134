"""The `obs_capture` pytest fixture, used the way a user would: in a separate pytest run (pytester) on a
test file that builds a Flask app, queries sqlite, and logs with logging and loguru.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = '''
import logging
import sqlite3

from opentelemetry.trace import SpanKind


def make_app():
    import flask
    from loguru import logger

    app = flask.Flask(__name__)

    @app.get("/items/<int:item_id>")
    def item(item_id):
        sqlite3.connect(":memory:").cursor().execute("select 1")
        logging.getLogger("shop").warning("looked at %s", item_id)
        logger.bind(item_id=item_id).info("viewed")
        return {"id": item_id}

    return app


def test_one_request_is_captured(obs_capture):
    assert make_app().test_client().get("/items/3").status_code == 200
    (server,) = obs_capture.spans(kind=SpanKind.SERVER)
    assert server.attributes["http.route"] == "/items/<int:item_id>"
    (database,) = obs_capture.spans(kind=SpanKind.CLIENT)
    assert database.parent.span_id == server.context.span_id
    route = {"http.route": "/items/<int:item_id>"}
    assert obs_capture.histogram_count("http.server.request.duration", **route) == 1
    records = {record.log_record.body: record.log_record for record in obs_capture.logs()}
    assert records["looked at 3"].trace_id == server.context.trace_id
    assert records["viewed"].attributes["item_id"] == 3


def test_each_test_starts_empty(obs_capture):
    assert obs_capture.spans() == []
    assert obs_capture.logs() == []
    assert obs_capture.metrics("http.server.request.duration") == []


def test_manual_spans_and_counters(obs_capture):
    from opentelemetry import metrics, trace

    with trace.get_tracer("mine").start_as_current_span("step"):
        metrics.get_meter("mine").create_counter("orders").add(2, {"shop": "north"})
    assert [span.name for span in obs_capture.spans()] == ["step"]
    assert obs_capture.logs() == []
    assert obs_capture.counter_value("orders", shop="north") == 2
    metrics.get_meter("mine").create_counter("orders").add(1, {"shop": "north"})
    assert obs_capture.counter_value("orders", shop="north") == 3
'''


def test_fixture_captures_spans_metrics_and_logs(pytester: pytest.Pytester) -> None:
    """A user's tests see their request's server and database spans, the request-duration histogram and the
    log records (with the span's trace id and loguru's bind() extras), and each test starts empty."""
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_fixture_refuses_to_run_beside_a_running_agent(pytester: pytest.Pytester) -> None:
    """When the agent already runs in the test process (obs.init() in a conftest), the fixture says why it
    cannot capture, instead of capturing nothing."""
    pytester.makeconftest("import obs\nobs.init(traces_exporter='none', metrics_exporter='none', "
                          "logs_exporter='none')\n")
    pytester.makepyfile(test_user="def test_capture(obs_capture):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*obs_capture: the obs agent is already running in this process*"])


def test_instrument_option_covers_apps_made_at_import(pytester: pytest.Pytester) -> None:
    """With `obs_instrument = true`, the agent starts before test modules are imported, so an app created at
    module level (not in a factory) is instrumented too."""
    pytester.makeini("[pytest]\nobs_instrument = true\n")
    pytester.makepyfile(test_user=(
        "import flask\nfrom opentelemetry.trace import SpanKind\napp = flask.Flask(__name__)\n"
        "@app.get('/ping')\ndef ping():\n    return 'pong'\n\n"
        "def test_module_level_app(obs_capture):\n"
        "    app.test_client().get('/ping')\n"
        "    (server,) = obs_capture.spans(kind=SpanKind.SERVER)\n"
        "    assert server.attributes['http.route'] == '/ping'\n"
    ))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
