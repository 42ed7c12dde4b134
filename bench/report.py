"""The results as Markdown: the tables and the target check that ``docs/benchmarks.md`` shows.

Rendering is pure; :func:`write` replaces the generated part of the file and keeps whatever follows
:data:`NOTES_MARKER` (hand-written analysis survives re-runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import loguru_bench
from bench.pythons import PythonRow
from bench.stats import SIGNALS, Summary, added_ms, median

NOTES_MARKER = "<!-- Everything below this line is kept when the bench rewrites this file. -->"
MIB_PER_MB = 1e6 / 2**20


@dataclass
class Results:
    """Everything one bench run measured, plus what is needed to describe how."""

    command: str
    quick: bool
    method: dict[str, Any]
    machine: dict[str, str]
    apps: dict[str, str]
    modes: dict[str, str]
    summaries: list[Summary] = field(default_factory=list)
    startup: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    exits: dict[str, list[float]] = field(default_factory=dict)
    exit_limit: float = 60.0
    loguru: list[loguru_bench.Result] = field(default_factory=list)
    loguru_lines: int = 0
    pythons: list[PythonRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def load_section(results: Results) -> list[str]:
    """Per app: throughput, latency, RSS and what was exported, each mode against plain."""
    out: list[str] = []
    for app, title in results.apps.items():
        rows = []
        for item in (s for s in results.summaries if s.app == app):
            rows.append([
                results.modes.get(item.mode, item.mode),
                f"{item.throughput:.0f}",
                _fmt(item.throughput_ratio),
                f"{item.p50_ms:.2f}",
                f"{item.p99_ms:.2f}",
                _fmt(item.p99_ratio, "{:.2f}x"),
                f"{item.rss_mib:.1f}",
                _fmt(item.rss_added_mib, "{:+.1f}"),
                " / ".join(f"{item.exported_kib[signal]:.0f}" for signal in SIGNALS),
                str(item.failures),
            ])
        if rows:
            out += [f"### {title}", ""]
            out += _table(
                ["mode", "req/s", "vs plain", "p50 ms", "p99 ms", "p99 vs plain", "worker RSS MiB",
                 "RSS added MiB", "exported KiB/round: traces / metrics / logs", "failed requests"],
                rows,
            )
            out.append("")
    return out


def startup_section(results: Results) -> list[str]:
    rows = []
    for program, samples in results.startup.items():
        if "plain" not in samples:
            continue
        added = added_ms(samples)
        rows += [
            [program, results.modes.get(name, name), f"{median(values) * 1000:.0f}",
             f"{min(values) * 1000:.0f}", "-" if name == "plain" else f"{added[name]:+.0f}"]
            for name, values in samples.items()
        ]
    if not rows:
        return []
    return ["### Start-up (agent start and shutdown included)", "", *_table(
        ["program", "mode", "median ms", "fastest ms", "added ms (median)"], rows), ""]


def exit_section(results: Results) -> list[str]:
    if not results.exits:
        return []
    rows = []
    for name, values in results.exits.items():
        mode = name.removesuffix("-unconfigured").removesuffix("-mute").removesuffix("-server")
        where = "endpoint configured, nothing listening" if mode == name \
            else "nothing configured (obs falls back to files)"
        if name.endswith("-mute"):
            where = "accepts connections, never answers"
        if "-server" in name:
            where += "; gunicorn -w 2, SIGTERM to exit"
        killed = sum(1 for value in values if value >= results.exit_limit)
        rows.append([results.modes.get(mode, mode), where, f"{median(values):.2f}", f"{max(values):.2f}",
                     str(killed)])
    return ["### Exit delay with no collector: app's last line to process exit", "", *_table(
        ["mode", "collector", "median s", "worst s", f"killed at {results.exit_limit:.0f} s"], rows), ""]


def _exit_figure(values: list[float], limit: float) -> str:
    if not values:
        return "-"
    killed = sum(1 for value in values if value >= limit)
    return f"{median(values):.2f} / {max(values):.2f}" + (f" ({killed} killed)" if killed else "")


def pythons_section(results: Results) -> list[str]:
    """One row per supported Python: what obs adds to start-up, and how long a process lingers at exit."""
    if not results.pythons:
        return []
    rows = []
    for row in results.pythons:
        if row.problem:
            rows.append([row.version, f"- ({row.problem})", "-", "-", "-"])
            continue
        added = [added_ms(row.startup[program])["obs"] if program in row.startup else None
                 for program in ("`python -c pass`", "`python -c 'import logging'`")]
        rows.append([
            f"{row.version} ({row.interpreter})",
            *(_fmt(value, "{:+.0f}") for value in added),
            _exit_figure(row.exits.get("obs", []), results.exit_limit),
            _exit_figure(row.exits.get("obs-unconfigured", []), results.exit_limit),
        ])
    return ["### Per Python: start-up added and exit delay of obs run", "", *_table(
        ["Python", "start-up added ms: `python -c pass`", "start-up added ms: `import logging`",
         "exit s, endpoint not answering (median / worst)", "exit s, nothing configured (median / worst)"],
        rows), ""]


def loguru_section(results: Results) -> list[str]:
    if not results.loguru:
        return []
    title = f"### loguru: {results.loguru_lines} lines in a burst (plain, obs bridge, SDK LoggingHandler)"
    return [title, "", loguru_bench.table(results.loguru), ""]


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def targets_section(results: Results) -> list[str]:
    """Issue 6's targets, checked on obs's modes (defaults and 100% sampling)."""
    rows: list[list[str]] = []
    obs_modes = [mode for mode in results.modes if mode.startswith("obs")]

    def add(target: str, scope: str, value: str, ok: bool | None) -> None:
        rows.append([target, scope, value, _verdict(ok)])

    for app in results.apps:
        by_mode = {s.mode: s for s in results.summaries if s.app == app}
        otel = by_mode.get("otel")
        for mode in obs_modes:
            item = by_mode.get(mode)
            if item is None or item.throughput_ratio is None:
                continue
            scope = f"{app}, {results.modes[mode]}"
            traces = item.exported_kib["traces"]
            add("spans reach the collector (else the figures mean nothing)", scope, f"{traces:.0f} KiB/round",
                traces > 0)
            add("throughput >= 0.80 of plain (aim 0.90)", scope, f"{item.throughput_ratio:.2f}",
                item.throughput_ratio >= 0.80)
            if otel is not None and otel.throughput_ratio is not None:
                gap = item.throughput_ratio - otel.throughput_ratio
                add(">= 0.10 above opentelemetry-instrument", scope, f"{gap:+.2f}", gap >= 0.10)
            if item.p99_ratio is not None:
                add("p99 <= 2x plain", scope, f"{item.p99_ratio:.2f}x", item.p99_ratio <= 2.0)
            if item.rss_added_mib is not None:
                add("added RSS <= 15 MB per worker", scope, f"{item.rss_added_mib / MIB_PER_MB:.1f} MB",
                    item.rss_added_mib / MIB_PER_MB <= 15)
    for program, samples in results.startup.items():
        if "plain" not in samples:
            continue
        added = added_ms(samples)
        for mode in obs_modes:
            if mode in added:
                add(f"start-up added <= 100 ms: {program}", results.modes[mode], f"{added[mode]:.0f} ms",
                    added[mode] <= 100)
    for name, values in results.exits.items():
        if name.startswith("obs") and "-server" not in name:
            add("exit within 1 s of the app's end, no collector", name, f"{median(values):.2f} s (worst "
                f"{max(values):.2f})", max(values) <= 1.0)
        plain_server = results.exits.get(name.replace("obs", "plain", 1))
        if name.startswith("obs") and "-server" in name and plain_server:
            later = median(values) - median(plain_server)
            add("server exit within 1 s of plain's, mute collector", name, f"{later:+.2f} s", later <= 1.0)
    variants = {result.variant: result for result in results.loguru}
    if "plain" in variants and "obs" in variants:
        bridged = variants["obs"]
        ratio = bridged.app_lines_per_s / variants["plain"].app_lines_per_s
        add("loguru bridged >= 0.5 of plain", "obs bridge", f"{ratio:.2f}", ratio >= 0.5)
        silent = bridged.lines - bridged.exported - bridged.reported_lost
        add("nothing dropped silently", "obs bridge", f"{silent} unaccounted", silent <= 0)
    if not rows:
        return []
    return ["### Targets (issue 6), at obs's defaults and at 100% sampling", "",
            *_table(["target", "where", "measured", "verdict"], rows), ""]


def _installation(method: dict[str, Any]) -> str:
    """How obs was installed for the apps (older results, without the field, ran on the editable checkout)."""
    if method.get("editable", True):
        return ("- Installation: this checkout's `.venv`, obs in editable mode (`BENCH_EDITABLE=1`), its "
                "bytecode written first as a wheel install has it.")
    return ("- Installation: the apps run from `.bench-venv`, made by bench/installed.py: "
            "`pip install .[examples]`, so obs is built into a wheel and installed with its bytecode, as "
            "from a package index, and refreshed from the checkout at each run. The checkout's `.venv` "
            "(obs editable, dev tools' `.pth` hooks) starts each interpreter about 17 ms slower, which "
            "`obs run`, starting one interpreter more than the plain app, would pay twice.")


def render(results: Results) -> str:
    """The generated part of docs/benchmarks.md."""
    method = results.method
    head = [
        "# Benchmarks: what obs costs a running app",
        "",
        "Generated by `make bench` (`python -m bench.run`); the exact command of this run:",
        "",
        "```",
        results.command,
        "```",
        "",
        "## Method",
        "",
        f"- Apps: {'; '.join(results.apps.values()) or 'none found'}. Modes: "
        f"{'; '.join(results.modes.values())}.",
        _installation(method),
        "- The instrumented modes export traces, metrics and logs over OTLP/HTTP protobuf to one peer "
        "process that answers 200 and drops (bench/peer.py); opentelemetry-instrument uses the same SDK "
        "release, all installed instrumentations, the stable HTTP/DB semantic conventions and its default "
        "sampler (100%).",
        f"- Load: wrk, {method['connections']} connections, 1 thread, {method['warmup_s']:.0f} s warm-up "
        f"then {method['seconds']:.0f} s measured, each app started fresh per round. {method['rounds']} "
        "rounds, the modes alternating (rotated each round); figures are medians over rounds, ratios are "
        "medians of per-round ratios to the same round's plain run.",
        "- Worker RSS: psutil on the serving process (the one holding the listening socket deepest in the "
        "process tree) right after the measured load.",
        "- Start-up: wall time of `python -c pass`, of `python -c 'import logging'` (obs run boots its "
        "agent on the first import worth observing), and of each example app imported and answering its "
        "first `/get` in-process (the start-up a real app sees), under each mode, agent start and shutdown "
        f"included; {method['startup_rounds']} "
        "alternating rounds after one warm-up round, medians.",
        f"- Exit delay: bench/exit_app.py makes HTTP calls and logs for {method['exit_app_s']:.0f} s with no "
        f"collector; measured from its last line to the process's exit, {method['exit_rounds']} rounds.",
        "- Per Python: bench/pythons.py, on each supported Python found (pyproject's classifiers; "
        "`python3.X` on PATH or pyenv), from a `.bench-venv-3.X` made like `.bench-venv`: start-up of "
        "`python -c pass` and `python -c 'import logging'`, plain and under `obs run`, "
        f"{method.get('python_startup_rounds', '-')} alternating rounds, medians; exit delay as above.",
        "- loguru: bench/loguru_bench.py `measure()`: a burst of lines to a loguru file sink in a fresh "
        "interpreter per run; the bridged variants export to a receiver in the bench process that counts "
        "them; "
        f"{method['loguru_rounds']} alternating rounds, medians.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in results.machine.items()],
        "",
    ]
    if results.quick:
        head += ["**Quick run (BENCH_QUICK=1): one short round; smoke test only, not figures to quote.**", ""]
    notes = [f"- {note}" for note in results.notes]
    body: list[str] = []
    for section in (targets_section, load_section, startup_section, exit_section, pythons_section,
                    loguru_section):
        part: Callable[[Results], list[str]] = section
        body += part(results)
    return "\n".join([*head, "## Results", "", *body, *(["## Notes from this run", "", *notes, ""] if notes
                                                         else [])])


def write(path: Path, generated: str) -> None:
    """Replace the generated part of ``path``; keep the hand-written notes after :data:`NOTES_MARKER`."""
    kept = ""
    if path.exists():
        _, marker, tail = path.read_text().partition(NOTES_MARKER)
        kept = tail if marker else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generated.rstrip("\n") + "\n\n" + NOTES_MARKER + (kept or "\n"))
