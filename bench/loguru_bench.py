"""loguru throughput: plain, with obs's bridge, and with the SDK's stock LoggingHandler (the anchor).

Each run is a fresh interpreter that logs N lines in a burst to a loguru file sink (default format) and, for
the bridged variants, exports them over OTLP/HTTP to a local receiver that decodes them. The receiver runs in
this parent process, so it takes no CPU from the measured one, and counts the records between runs.
Variants alternate round by round; the table shows medians.

Figures:
- app lines/s: N divided by the time the logging loop took: what the app's thread sees.
- end-to-end lines/s: N divided by the time until every record was exported (the bridge's flush returned).
- exported: records that reached the receiver; obs also reports what it lost itself.

For ``make bench``: ``measure()`` returns the figures, ``table()`` renders them as Markdown.
Run: ``.venv/bin/python bench/loguru_bench.py [--lines 50000] [--rounds 3] [--variants plain,obs,stock]``.
``--lines 200000`` shows a flood longer than the queue's high-water mark (export runs while the app logs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("plain", "obs", "stock")


def _child(variant: str, lines: int, sink: str, endpoint: str) -> dict[str, Any]:
    """Runs in the measured process."""
    from loguru import logger

    logger.remove()
    logger.add(sink)
    finish = _setup(variant, endpoint, logger)
    message = "request handled path=/items/{} status=200 elapsed_ms={:.1f}"
    started = time.perf_counter()
    for index in range(lines):
        logger.info(message, index, index * 0.01)
    logged = time.perf_counter() - started
    reported = finish()
    total = time.perf_counter() - started
    return {"app_s": logged, "total_s": total, "reported_lost": reported}


def _setup(variant: str, endpoint: str, logger: Any) -> Any:
    """Install the variant's bridge; return a function that flushes and returns what obs reports lost."""
    if variant == "plain":
        return lambda: 0
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": "loguru-bench"})
    exporter = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")
    if variant == "obs":
        from obs.agent._config.limits import LOGS
        from obs.agent._logs import start_logs
        from obs.agent.settings import load_settings

        settings = load_settings(environ={}, cwd=Path(tempfile.gettempdir()))
        dropped = MeterProvider().get_meter("bench").create_counter("obs.logs.dropped")
        handle = start_logs(settings, resource, exporter, dropped, LOGS)

        def finish_obs() -> int:
            handle.flush(120)
            return handle.losses.total

        return finish_obs
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger.add(LoggingHandler(logger_provider=provider), format="{message}")

    def finish_stock() -> int:
        provider.force_flush()
        return 0

    return finish_stock


def _run(variant: str, lines: int, receiver: Any, folder: str) -> dict[str, Any]:
    sink = os.path.join(folder, f"{variant}.log")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_SDK_DISABLED": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, str(lines), sink, receiver.endpoint],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    os.unlink(sink) if os.path.exists(sink) else None
    if done.returncode != 0:
        raise SystemExit(f"{variant} run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["exported"] = len(receiver.logs())
    receiver.clear()
    return result


@dataclass(frozen=True)
class Result:
    """One variant's medians: lines per second seen by the app's thread and end to end."""

    variant: str
    lines: int
    app_lines_per_s: float
    end_to_end_lines_per_s: float
    exported: int
    reported_lost: int


def measure(lines: int = 50_000, rounds: int = 3, variants: tuple[str, ...] = VARIANTS) -> list[Result]:
    """Run the variants in alternating rounds against one local receiver; medians per variant."""
    sys.path.insert(0, str(ROOT))
    from tests.otlp_receiver import OTLPReceiver

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    with OTLPReceiver() as receiver, tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            for name in variants:
                runs[name].append(_run(name, lines, receiver, folder))
    return [
        Result(
            variant=name,
            lines=lines,
            app_lines_per_s=lines / statistics.median(run["app_s"] for run in runs[name]),
            end_to_end_lines_per_s=lines / statistics.median(run["total_s"] for run in runs[name]),
            exported=min(run["exported"] for run in runs[name]),
            reported_lost=max(run["reported_lost"] for run in runs[name]),
        )
        for name in variants
    ]


def table(results: list[Result]) -> str:
    """The results as a Markdown table, ratios against the plain variant."""
    plain = next((result for result in results if result.variant == "plain"), None)
    rows = [
        "| variant | app lines/s | vs plain | end-to-end lines/s | vs plain | exported | obs-reported lost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        app = f"{result.app_lines_per_s / plain.app_lines_per_s:.2f}" if plain else "-"
        total = f"{result.end_to_end_lines_per_s / plain.app_lines_per_s:.2f}" if plain else "-"
        exported = "-" if result.variant == "plain" else str(result.exported)
        lost = str(result.reported_lost) if result.variant == "obs" else "-"
        rows.append(f"| {result.variant} | {result.app_lines_per_s:.0f} | {app} | "
                    f"{result.end_to_end_lines_per_s:.0f} | {total} | {exported} | {lost} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--child", nargs=4, metavar=("VARIANT", "LINES", "SINK", "ENDPOINT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        variant, lines, sink, endpoint = args.child
        print(json.dumps(_child(variant, int(lines), sink, endpoint)))
        return 0
    variants = tuple(name for name in args.variants.split(",") if name)
    print(f"loguru, {args.lines} lines in a burst, medians of {args.rounds} rounds")
    print(table(measure(args.lines, args.rounds, variants)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
