"""loguru throughput: plain, with obs's bridge, and with the SDK's stock LoggingHandler (the anchor).

Each run is a fresh interpreter that logs N lines in a burst to a loguru file sink (default format) and, for
the bridged variants, exports them over OTLP/HTTP to a local receiver that decodes and drops them (it runs in
this parent process, so it takes no CPU from the measured one). Variants alternate round by round; medians.

Figures:
- app lines/s: N divided by the time the logging loop took: what the app's thread sees.
- end-to-end lines/s: N divided by the time until every record was exported (the bridge's flush returned).
- exported: records the receiver accepted (counted at the exporter); obs also reports what it lost itself.

Run: ``.venv/bin/python bench/loguru_bench.py [--lines 50000] [--rounds 3]``.
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
    exported, reported = finish()
    total = time.perf_counter() - started
    return {"app_s": logged, "total_s": total, "exported": exported, "reported_lost": reported}


def _setup(variant: str, endpoint: str, logger: Any) -> Any:
    """Install the variant's bridge; return a function that flushes and returns (exported, reported lost)."""
    if variant == "plain":
        return lambda: (0, 0)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        LogRecordExporter,
        LogRecordExportResult,
    )
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    class Counting(LogRecordExporter):
        """The real OTLP exporter, counting the records the receiver accepted."""

        def __init__(self) -> None:
            self.inner = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")
            self.exported = 0

        def export(self, batch: Any) -> LogRecordExportResult:
            records: list[ReadableLogRecord] = list(batch)
            result = self.inner.export(records)
            if result is LogRecordExportResult.SUCCESS:
                self.exported += len(records)
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    resource = Resource.create({"service.name": "loguru-bench"})
    exporter = Counting()
    if variant == "obs":
        from obs.agent._logs import start_logs
        from obs.agent.settings import load_settings

        settings = load_settings(environ={}, cwd=Path(tempfile.gettempdir()))
        handle = start_logs(settings, resource, exporter, MeterProvider().get_meter("bench"))

        def finish_obs() -> tuple[int, int]:
            handle.flush(120)
            return exporter.exported, handle.losses.total

        return finish_obs
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger.add(LoggingHandler(logger_provider=provider), format="{message}")

    def finish_stock() -> tuple[int, int]:
        provider.force_flush()
        return exporter.exported, 0

    return finish_stock


def _run(variant: str, lines: int, endpoint: str, folder: str) -> dict[str, Any]:
    sink = os.path.join(folder, f"{variant}.log")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_SDK_DISABLED": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, str(lines), sink, endpoint],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    os.unlink(sink) if os.path.exists(sink) else None
    if done.returncode != 0:
        raise SystemExit(f"{variant} run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


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
    sys.path.insert(0, str(ROOT))
    from tests.otlp_receiver import OTLPReceiver

    variants = [name for name in args.variants.split(",") if name]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    with OTLPReceiver(keep=False) as receiver, tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for name in variants:
                results[name].append(_run(name, args.lines, receiver.endpoint, folder))
    plain_app = statistics.median(r["app_s"] for r in results["plain"]) if "plain" in results else None
    print(f"loguru, {args.lines} lines in a burst, median of {args.rounds} rounds")
    print(f"{'variant':8} {'app lines/s':>12} {'vs plain':>9} {'end-to-end lines/s':>19} {'vs plain':>9}"
          f" {'exported':>9} {'obs-reported lost':>18}")
    for name in variants:
        app = statistics.median(r["app_s"] for r in results[name])
        total = statistics.median(r["total_s"] for r in results[name])
        exported = min(r["exported"] for r in results[name])
        reported = max(r["reported_lost"] for r in results[name])
        ratio = f"{plain_app / app:.2f}" if plain_app else "-"
        ratio_total = f"{plain_app / total:.2f}" if plain_app else "-"
        shown = "-" if name == "plain" else str(exported)
        print(f"{name:8} {args.lines / app:12.0f} {ratio:>9} {args.lines / total:19.0f} {ratio_total:>9}"
              f" {shown:>9} {reported if name == 'obs' else '-':>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
