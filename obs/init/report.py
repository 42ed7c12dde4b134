"""What ``obs init`` tells the user: what it found and why, what it will do to each file, what to do next."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from obs.collector.compose import GRAFANA_PORT
from obs.detect import AppObject, Detection, Finding
from obs.init.plan import DEFAULT_DIR, InitPlan
from obs.init.scaffold import Step

__all__ = ["describe_detection", "describe_steps", "next_steps", "run_commands"]

_EVIDENCE_SHOWN: Final = 2
_NOTES: Final = {
    "conflict": "differs from what obs generates: kept as you changed it (--force overwrites)",
    "overwrite": "differs from what obs generates: replaced (--force)",
}


def _evidence(finding: Finding) -> str:
    parts = [f"{item.where()} declares {item.text}" for item in finding.declared[:_EVIDENCE_SHOWN]]
    parts += [f"{item.where()} imports {item.module}" for item in finding.imported[:_EVIDENCE_SHOWN]]
    parts += [item.describe() for item in finding.mentioned[:_EVIDENCE_SHOWN]]
    hidden = sum(max(0, len(items) - _EVIDENCE_SHOWN)
                 for items in (finding.declared, finding.imported, finding.mentioned))
    return "; ".join(parts) + (f"; +{hidden} more" if hidden else "")


def _table(rows: Sequence[tuple[str, str, str]]) -> list[str]:
    width = max((len(row[0]) for row in rows), default=0)
    kind = max((len(row[1]) for row in rows), default=0)
    return [f"  {a:<{width}}  {b:<{kind}}  {c}".rstrip() for a, b, c in rows]


def describe_detection(plan: InitPlan) -> list[str]:
    """The findings: instrumentations chosen (with evidence) and libraries found but left out (with why)."""
    detection = plan.detection
    source = detection.source
    lines = [
        f"Project {plan.project.root} ({', '.join(plan.project.markers())}; {source.files} Python files read)"
    ]
    chosen = [f for f in detection.findings if f.status == "instrumented"]
    others = [f for f in detection.findings if f.status != "instrumented"]
    if chosen:
        lines.append("Instrumentations, and why:")
        lines += _table(
            [(", ".join(f.library.instrumentations), f.library.kind, _evidence(f)) for f in chosen]
        )
    else:
        lines.append(
            "No library with an OpenTelemetry instrumentation found: the agent will turn on every "
            "installed one that applies."
        )
    if others:
        lines.append("Also found, not instrumented:")
        lines += _table([(f.library.key, f.library.kind, f"{f.reason} ({_evidence(f)})") for f in others])
    if source.unreadable:
        lines.append(f"Skipped (not valid Python): {', '.join(source.unreadable)}")
    if source.truncated:
        lines.append(f"Stopped reading source after {source.files} files.")
    return lines


def _step_note(step: Step, plan: InitPlan) -> str:
    path = step.planned.path
    if step.action in _NOTES:
        return _NOTES[step.action]
    if step.action == "update" and not step.planned.edited:
        return "you had not changed it: brought up to date"
    if step.action not in ("update", "create") or path not in (plan.config.path, plan.deps.path):
        return ""
    notes = []
    if path == plan.config.path:
        config = plan.config
        if config.new_table:
            notes.append(f"{config.label} added")
        elif config.added or config.replaced:
            notes.append(f"{config.label}: {', '.join((*config.added, *config.replaced))} set")
    if path == plan.deps.path and (plan.deps.added or plan.deps.replaced):
        count = len(plan.deps.added) + len(plan.deps.replaced)
        notes.append(f"{count} package{'s' * (count != 1)} pinned in {plan.deps.target}")
    return "; ".join(notes)


def describe_steps(steps: Sequence[Step], plan: InitPlan, relative: Callable[[Path], str]) -> list[str]:
    """One line per file (create, identical, conflict, overwrite, update), then the values kept."""
    lines = ["Files:"]
    for step in steps:
        note = _step_note(step, plan)
        lines.append(f"  {step.action:<9}  {relative(step.planned.path)}" + (f"  ({note})" if note else ""))
    for conflict in plan.config.conflicts:
        lines.append(
            f"  conflict   {plan.config.label} {conflict.key} = {conflict.kept!r} kept as you set it "
            f"(obs would write {conflict.proposed!r}; --force resets it)"
        )
    for dependency in plan.deps.conflicts:
        lines.append(
            f"  conflict   {dependency.current} kept in {plan.deps.target} (obs pins {dependency.proposed}; "
            "--force replaces it)"
        )
    if plan.own_pin_note:
        lines.append(f"  note       {plan.own_pin_note}")
    for name in plan.unknown_instrumentations:
        lines.append(f"  note       no package known for instrumentation `{name}`: install it yourself")
    return lines


def _first(apps: Sequence[AppObject], *frameworks: str) -> AppObject | None:
    return next((app for app in apps if app.framework in frameworks), None)


def _web_command(detection: Detection) -> str | None:
    apps = detection.apps
    uses = detection.uses
    asgi = _first(apps, "fastapi", "starlette")
    if asgi is not None:
        if uses("uvicorn") or not (uses("hypercorn") or uses("gunicorn")):
            return f"obs run -- uvicorn {asgi.target}"
        if uses("hypercorn"):
            return f"obs run -- hypercorn {asgi.target}"
        return f"obs run -- gunicorn -k uvicorn.workers.UvicornWorker {asgi.target}"
    wsgi = _first([app for app in apps if app.target != "manage.py"], "flask", "django")
    if wsgi is not None and uses("gunicorn"):
        return f"obs run -- gunicorn {shlex.quote(wsgi.target)}"
    if wsgi is not None and wsgi.framework == "flask":
        return f"obs run -- flask --app {shlex.quote(wsgi.target)} run"
    if _first(apps, "django") is not None:
        return "obs run -- python manage.py runserver"
    return None


def run_commands(detection: Detection) -> list[str]:
    """How to start this app (and its Celery worker) under ``obs run``, from the app objects found."""
    commands = []
    web = _web_command(detection)
    if web is not None:
        commands.append(web)
    celery = _first(detection.apps, "celery")
    if celery is not None:
        commands.append(f"obs run -- celery -A {celery.target.split(':')[0]} worker")
    script = _first([app for app in detection.apps if app.path != "manage.py"], "script")
    if not commands and script is not None:
        commands.append(f"obs run -- python -m {script.target}")
    return commands or ["obs run -- python your_app.py"]


def _cwd() -> Path | None:
    try:
        return Path.cwd().resolve()
    except OSError:
        return None


def next_steps(plan: InitPlan, relative: Callable[[Path], str]) -> list[str]:
    """Install, run instrumented, and see the telemetry with and without Docker (from the project root)."""
    root = plan.project.root
    lines = ["Next steps:" if _cwd() == root else f"Next steps, in {root}:"]
    if plan.deps.install is None:
        lines.append(f"  1. Install the packages:  {plan.pip_command}")
    else:
        lines.append(f"  1. Install the added packages:  {plan.deps.install}")
        if plan.pip_command:
            lines.append(
                f"     setup.py is not edited; where the app is installed from it:  {plan.pip_command}"
            )
    commands = run_commands(plan.detection)
    lines.append(f"  2. Run the app instrumented:  {commands[0]}")
    lines += [f"{'':<32}{command}" for command in commands[1:]]
    lines.append("     (or call `import obs; obs.init()` first thing in the app)")
    up = "obs up" if plan.out_dir == plan.project.root / DEFAULT_DIR else f"obs up {relative(plan.out_dir)}"
    lines.append(
        f"  3. With Docker:  {up}  -> Grafana on http://localhost:{GRAFANA_PORT}, dashboards in the "
        "`obs` folder"
    )
    lines.append("     Without Docker:  obs view  -> requests, traces and logs in the terminal, read from")
    lines.append("     .obs/telemetry/, where the app writes them while no collector answers")
    return lines
