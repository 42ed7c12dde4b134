"""Console output under obs: the same lines the app printed without obs, plus `` trace_id=<32 hex>`` on the
lines written inside a span; the last-resort stderr output of unconfigured apps still appears."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC
from pathlib import Path

from obs.agent._logs.console import loguru_head_end, serialized_with_trace_id, stdlib_head_end, with_trace_id

from tests.otlp_receiver import OTLPReceiver
from tests.test_logs_bridges import printed, run_app

TRACE_SUFFIX = re.compile(r' trace_id=[0-9a-f]{32}|, "trace_id": "[0-9a-f]{32}"')
"""The trace id as obs writes it: a suffix on text, a JSON object's field (tests/test_logs_structured.py)."""
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")

APP = """
    start()
    import json, logging
    from loguru import logger
    log = logging.getLogger("app")
    log.info("unconfigured info")
    log.warning("unconfigured warning")
    with tracer.start_as_current_span("first") as span:
        log.warning("unconfigured warning in span")
        print("TRACE1", trace_id(span), file=sys.stderr)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    logging.basicConfig(handlers=[handler])

    class Json(logging.Formatter):
        def format(self, record):
            return json.dumps({"msg": record.getMessage()})

    as_json = logging.StreamHandler(sys.stdout)
    as_json.setFormatter(Json())
    logging.getLogger("json").addHandler(as_json)
    logging.getLogger("json").propagate = False
    to_file = logging.FileHandler("app.log")
    logging.getLogger("file").addHandler(to_file)
    with tracer.start_as_current_span("second") as span:
        log.info("configured info in span")
        log.warning("configured warning in span")
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("with traceback")
        logging.getLogger("json").warning("json line")
        logging.getLogger("file").warning("file line")
        logger.info("loguru in span")
        print("TRACE2", trace_id(span), file=sys.stderr)
    log.warning("configured warning outside")
    logger.info("loguru outside")
    finish()
"""


def _lines(text: str, folder: Path) -> list[str]:
    """Output lines without what differs between two runs: timestamps, the app's folder, printed ids."""
    return [
        TIMESTAMP.sub("<time>", line).replace(str(folder), "<dir>")
        for line in text.splitlines()
        if not line.startswith("TRACE")
    ]


def test_console_is_unchanged_but_for_trace_ids_inside_spans(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """stdout and stderr under obs equal those of the plain app once the trace ids are removed; the ids sit
    exactly on the lines written inside a span (stdlib stream handlers, last resort, loguru's default sink;
    a field of a JSON line), never on file output, and name the span's trace."""
    plain_dir, obs_dir = tmp_path / "plain", tmp_path / "obs"
    plain_dir.mkdir()
    obs_dir.mkdir()
    plain = run_app(APP, receiver, plain_dir, plain=True)
    bridged = run_app(APP, receiver, obs_dir)
    for ours, theirs in ((bridged.stdout, plain.stdout), (bridged.stderr, plain.stderr)):
        assert [TRACE_SUFFIX.sub("", line) for line in _lines(ours, obs_dir)] == _lines(theirs, plain_dir)
    first, second = printed(bridged.stderr, "TRACE1"), printed(bridged.stderr, "TRACE2")
    assert "unconfigured warning" in plain.stderr.splitlines()  # Python's last resort, without obs...
    assert "unconfigured warning" in bridged.stderr.splitlines()  # ...and with it
    assert f"unconfigured warning in span trace_id={first}" in bridged.stderr.splitlines()
    out = bridged.stdout.splitlines()
    assert f"WARNING:app:configured warning in span trace_id={second}" in out
    traceback_at = out.index(f"ERROR:app:with traceback trace_id={second}") + 1
    assert out[traceback_at] == "Traceback (most recent call last):"
    assert f'{{"msg": "json line", "trace_id": "{second}"}}' in out
    assert "WARNING:app:configured warning outside" in out
    assert not any("configured info in span" in line for line in out)
    loguru_lines = [line for line in _lines(bridged.stderr, obs_dir) if "| INFO" in line]
    assert loguru_lines[0].endswith(f"- loguru in span trace_id={second}")
    assert loguru_lines[1].endswith("- loguru outside")
    assert (obs_dir / "app.log").read_text() == "file line\n"
    assert "configured info in span" in {str(record.body) for record in receiver.logs()}


def test_console_trace_ids_can_be_turned_off(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """With console_trace_ids off the console output is the plain app's, while logs are still exported."""
    done = run_app(APP, receiver, tmp_path, {"OBS_CONSOLE_TRACE_IDS": "false"})
    assert not TRACE_SUFFIX.search(done.stdout + done.stderr)
    assert "configured warning in span" in {str(record.body) for record in receiver.logs()}


def test_trace_id_goes_after_the_message_and_before_a_traceback() -> None:
    """The stdlib insertion point is the end of the message part, before the exception text."""
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", (), None)
    record.exc_text = "Traceback (most recent call last):\nValueError: x"
    text = "ERROR:app:boom\nTraceback (most recent call last):\nValueError: x"
    assert with_trace_id(text, stdlib_head_end(text, record), 0xAB) == (
        f"ERROR:app:boom trace_id={0xAB:032x}\nTraceback (most recent call last):\nValueError: x"
    )
    plain = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", (), None)
    assert stdlib_head_end("INFO hello", plain) == len("INFO hello")


def test_loguru_trace_id_goes_before_the_line_end() -> None:
    """In loguru's formatted line the id follows the message, before the newline and any traceback."""
    text = "12:00 | INFO | m:f:1 - hello\nTraceback (most recent call last):\n"
    assert with_trace_id(text, loguru_head_end(text, "hello"), 1).startswith(
        f"12:00 | INFO | m:f:1 - hello trace_id={1:032x}\nTraceback"
    )
    assert loguru_head_end("INFO - hi\n", "hi") == len("INFO - hi")


def test_loguru_serialized_trace_id_goes_in_the_records_extra_only() -> None:
    """In a serialize=True line the id becomes the last field of ``record.extra``, in json.dumps' spacing;
    ``text`` (which quotes the message, braces and all) and every other byte stay as loguru wrote them. A line
    whose extra has a ``trace_id`` of the app's, or whose extra cannot be found, is left as it is."""
    from datetime import datetime

    hex_id = f"{0xAB:032x}"
    for extra in ({}, {"user": "ann", "when": datetime(2026, 1, 1, tzinfo=UTC), "n": [1, 2.5]}):
        line = json.dumps({"text": 'said "extra": {} é\n', "record": {"exception": None, "extra": extra,
                                                                      "message": "m"}},
                          default=str, ensure_ascii=False) + "\n"
        changed = serialized_with_trace_id(line, extra, 0xAB)
        value = json.loads(changed)
        assert list(value["record"]["extra"].items())[-1] == ("trace_id", hex_id)
        del value["record"]["extra"]["trace_id"]
        assert json.dumps(value, default=str, ensure_ascii=False) + "\n" == line
    assert serialized_with_trace_id(line, {**extra, "trace_id": "mine"}, 0xAB) == line
    assert serialized_with_trace_id(line, {"other": 1}, 0xAB) == line
