"""Charging py-spy samples: the innermost OpenTelemetry/obs frame pays, unless the framework took over."""

from __future__ import annotations

from bench.stacks import APP, breakdown, charge

SITE = "/venv/lib/python3.11/site-packages"
WRAPPED = f"_wrapped_app ({SITE}/opentelemetry/instrumentation/flask/__init__.py:400)"
WSGI_APP = f"Flask.wsgi_app ({SITE}/flask/app.py:1511)"
VIEW = "get (/work/main/examples/flask_app/app.py:20)"
BEFORE = f"_before_request ({SITE}/opentelemetry/instrumentation/flask/__init__.py:484)"
PROXY = f"LocalProxy.__get__ ({SITE}/werkzeug/local.py:310)"
RECORD = f"Histogram.record ({SITE}/opentelemetry/sdk/metrics/_internal/instrument.py:321)"


def test_app_work_under_the_middleware_is_the_apps() -> None:
    """The view runs inside the instrumentation's wrapper, but Flask.wsgi_app between them hands it back."""
    assert charge([WRAPPED, WSGI_APP, VIEW]) == (APP, "")


def test_library_code_called_by_the_instrumentation_is_the_instrumentations() -> None:
    """A werkzeug proxy read from the instrumentation's before-request hook is charged to that hook."""
    category, function = charge([WRAPPED, WSGI_APP, BEFORE, PROXY])
    assert category == "instrumentation middleware"
    assert function == "_before_request (opentelemetry/instrumentation/flask/__init__.py)"


def test_sdk_called_by_the_middleware_is_charged_to_the_sdk() -> None:
    """The innermost OpenTelemetry frame wins: a histogram record is the metrics SDK's, not the middleware's.
    """
    assert charge([WRAPPED, RECORD])[0] == "metrics SDK (record, aggregate)"


def test_breakdown_splits_the_request_thread_from_the_exporter_thread() -> None:
    """The thread busiest outside exporters and batch processors is the request thread; the OTLP encoder's
    samples on another thread are counted apart; functions are listed for the request thread only."""
    encoder = f"{SITE}/opentelemetry/exporter/otlp/proto/common/_internal/trace_encoder/__init__.py"
    encode = f"encode_spans ({encoder}:9)"
    raw = "\n".join([
        f"thread (1): MainThread;{WRAPPED};{WSGI_APP};{VIEW} 30",
        f"thread (1): MainThread;{WRAPPED};{RECORD} 5",
        f"thread (1): MainThread;{WRAPPED} 3",
        f"thread (2): OtelBatchSpanRecordProcessor;"
        f"worker ({SITE}/opentelemetry/sdk/_shared_internal/__init__.py:1);{encode} 40",
        "not a stack line",
    ])
    main, others, functions = breakdown(raw)
    assert main == {APP: 30, "metrics SDK (record, aggregate)": 5, "instrumentation middleware": 3}
    assert others == {"OTLP exporter (encode + HTTP)": 40}
    assert functions["Histogram.record (opentelemetry/sdk/metrics/_internal/instrument.py)"] == 5
    assert sum(functions.values()) == 8
