"""The telemetry folder: which files hold each signal, and their requests one line at a time.

Lines that cannot be read are skipped and counted, never fatal: an app may still be appending to the last
line, and one bad line must not hide the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from obs.view.otlpjson import LineError, parse_line

__all__ = ["SIGNALS", "Signal", "SkippedLine", "TelemetryDir"]

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: Final[tuple[Signal, ...]] = ("traces", "metrics", "logs")

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class SkippedLine:
    path: Path
    line: int
    reason: str


@dataclass
class TelemetryDir:
    """``<dir>/<signal>.jsonl`` and its rotated predecessors: ``traces.jsonl.1`` (the agent's rotation) or
    ``traces-2024-05-01T10-00-00.000.jsonl`` (the Collector file exporter's)."""

    path: Path
    skipped: list[SkippedLine] = field(default_factory=list)

    def files(self, signal: Signal) -> list[Path]:
        if not self.path.is_dir():
            return []
        found = {*self.path.glob(f"{signal}.jsonl*"), *self.path.glob(f"{signal}-*.jsonl")}
        current = f"{signal}.jsonl"
        return sorted((p for p in found if p.is_file()), key=lambda p: (p.name == current, p.name))

    def has_data(self) -> bool:
        return any(p.stat().st_size > 0 for signal in SIGNALS for p in self.files(signal))

    def traces(self, mentioning: Collection[str] = ()) -> Iterator[ExportTraceServiceRequest]:
        """Every traces request; with ``mentioning``, only lines whose text holds one of those strings
        (a cheap filter before the costly parse)."""
        return self._requests("traces", ExportTraceServiceRequest, mentioning)

    def metrics(self) -> Iterator[ExportMetricsServiceRequest]:
        return self._requests("metrics", ExportMetricsServiceRequest)

    def logs(self) -> Iterator[ExportLogsServiceRequest]:
        return self._requests("logs", ExportLogsServiceRequest)

    def _skip(self, skipped: SkippedLine) -> None:
        """Remember a bad line once, however many times the file is read."""
        if skipped not in self.skipped:
            self.skipped.append(skipped)

    def _requests(
        self, signal: Signal, message_type: type[M], mentioning: Collection[str] = ()
    ) -> Iterator[M]:
        for path in self.files(signal):
            yield from self._read(path, message_type, tuple(mentioning))

    def _read(self, path: Path, message_type: type[M], mentioning: tuple[str, ...]) -> Iterator[M]:
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except OSError as error:
            self._skip(SkippedLine(path, 0, f"cannot be read: {error.strerror}"))
            return
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip() or (mentioning and not any(text in line for text in mentioning)):
                    continue
                try:
                    yield parse_line(line, message_type)
                except LineError as error:
                    if line.endswith("\n"):
                        self._skip(SkippedLine(path, number, str(error)))
                    # else: the last line, still being written by a running app
