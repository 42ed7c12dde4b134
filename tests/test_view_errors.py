"""The Errors section of `obs view` from telemetry files: counts summed over processes and windowed by
--since, first and last seen, the sample trace's own message, and what the scrubber takes out."""

from __future__ import annotations

import time
from pathlib import Path

from obs.agent.catalog import ERRORS, ERRORS_LAST_SEEN

from obs.view import Options, read_report
from obs.view.errors import scrub
from tests.telemetry_files import Writer

GROUP = {"exception.type": "KeyError", "code.function.name": "shop.lookup",
         "obs.error.operation": "GET /items"}
OTHER = {"exception.type": "ValueError", "code.function.name": "shop.parse", "obs.error.operation": ""}


def test_counts_add_up_over_processes_and_follow_since(tmp_path: Path) -> None:
    """Two workers' cumulative counters add up per group, most frequent first; with --since, a group counts
    only what its series grew by after that moment, and a group that did not grow is left out."""
    first, second = Writer("shop", "worker-1"), Writer("shop", "worker-2")
    first.count(ERRORS.name, 2, GROUP)
    second.count(ERRORS.name, 1, GROUP)
    second.count(ERRORS.name, 4, OTHER)
    for writer in (first, second):
        writer.flush(tmp_path)
    middle = time.time_ns()
    first.count(ERRORS.name, 3, GROUP)
    first.flush(tmp_path)
    whole = read_report(tmp_path, Options())
    assert [(group.type, group.where, group.operation, group.count) for group in whole.errors] == [
        ("KeyError", "shop.lookup", "GET /items", 6), ("ValueError", "shop.parse", "", 4)]
    recent = read_report(tmp_path, Options(since_ns=middle))
    assert [(group.type, group.count) for group in recent.errors] == [("KeyError", 3)]
    first.close()
    second.close()


def test_message_is_the_sample_traces_and_scrubbed(tmp_path: Path) -> None:
    """The message shown is the exception of the group's sample trace (not just any of that type), without
    the password of the URL it names."""
    writer = Writer("shop", "worker-1")
    start = time.time_ns()
    writer.request("/items", 500, 0.01, start, exception=KeyError("old one"))
    sample = writer.request("/items", 500, 0.01, start + 10**6,
                            exception=KeyError("no item in redis://cache:s3cret@10.0.0.5/0"))
    writer.count(ERRORS.name, 2, GROUP)
    writer.gauge(ERRORS_LAST_SEEN.name, start / 1e9, {**GROUP, "trace_id": sample}, unit="s")
    writer.flush(tmp_path)
    [group] = read_report(tmp_path, Options()).errors
    assert group.trace_id == sample and group.sample_message
    assert group.message == "'no item in redis://cache:REDACTED@10.0.0.5/0'"
    writer.close()


def test_scrub_takes_out_credentials_and_keeps_the_rest() -> None:
    """The view's messages go through the agent's scrubber: URL passwords and secret query parameters are
    replaced; the user name, host and the rest of the text stay."""
    assert (scrub("connect postgres://shop:hunter2@db:5432/app failed")
            == "connect postgres://shop:REDACTED@db:5432/app failed")
    assert scrub("GET http://api/x?token=abc123&page=2") == "GET http://api/x?token=REDACTED&page=2"
    assert scrub("nothing secret at http://example/path") == "nothing secret at http://example/path"
