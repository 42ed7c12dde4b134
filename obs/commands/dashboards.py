"""`obs dashboards build` and `obs dashboards push`: the project's dashboards, from sources to Grafana.

``build`` runs every ``observability/dashboards/src/<name>.py`` (files starting with ``_`` are helpers they
may import) and writes ``observability/dashboards/<name>.json``: all sources are built and checked first, so
a broken source leaves every file as it was. ``push`` uploads the JSON to a running Grafana through its HTTP
API with the maintained ``grafana-client`` package, into one folder, overwriting by uid (idempotent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from obs.agent.settings import load_settings
from obs.dashboards import SOURCE_DIR, DashboardSourceError, build
from obs.errors import ObsError, ProjectError, UsageError, WriteError
from obs.stackdir import observability_dir

__all__ = ["GrafanaError", "register"]

TOKEN_ENV: Final = "GRAFANA_TOKEN"
FOLDER_UID: Final = "obs"
PUSH_MESSAGE: Final = "obs dashboards push"
_DIR_HELP: Final = "the observability/ folder, or the project that holds it (default: this project)"
CLIENT_MISSING: Final = (
    "`obs dashboards push` needs the grafana-client package: pip install 'obs-bootstrap[grafana]'"
)


class GrafanaError(ObsError):
    """Grafana could not be reached, refused the credentials, or rejected a dashboard."""


@contextmanager
def _source_path(folder: Path) -> Iterator[None]:
    """Let sources import their ``_helpers.py`` siblings while they run."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically: readers (Grafana's provisioning) never see half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise WriteError(f"cannot write {path} ({error.strerror}); check the folder's permissions") from None


def _build(args: argparse.Namespace) -> int:
    folder = observability_dir(args.dir)
    sources_dir = folder / SOURCE_DIR
    paths = sorted(path for path in sources_dir.glob("*.py") if not path.name.startswith("_"))
    if not paths:
        raise ProjectError(f"no dashboard sources in {sources_dir}; run `obs init` to generate them")
    settings = load_settings(cwd=folder)
    sources = {str(path): path.read_text(encoding="utf-8") for path in paths}
    try:
        with _source_path(sources_dir):
            built = build(sources, settings)
    except DashboardSourceError as error:
        raise ProjectError(f"{error} (no dashboard was written)") from None
    stale = 0
    for name, text in built.items():
        target = folder / "dashboards" / f"{name}.json"
        shown = target.relative_to(folder.parent) if folder.parent in target.parents else target
        if text is None:
            print(f"skip       {shown} (nothing to show for this project)")
            continue
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            print(f"identical  {shown}")
            continue
        stale += 1
        if args.check:
            print(f"{'outdated' if current is not None else 'missing':<10} {shown}")
            continue
        _write(target, text)
        print(f"{'update' if current is not None else 'create':<10} {shown}")
    if args.check and stale:
        raise ProjectError(f"{stale} dashboard JSON file(s) out of date; run `obs dashboards build`")
    return 0


def _documents(folder: Path) -> list[dict[str, Any]]:
    documents = []
    for path in sorted((folder / "dashboards").glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProjectError(f"cannot read {path} ({error}); run `obs dashboards build`") from None
        if not isinstance(document, dict) or not document.get("uid"):
            raise ProjectError(f"{path} is not a dashboard with a uid; run `obs dashboards build`")
        documents.append(document)
    if not documents:
        raise ProjectError(f"no dashboards in {folder}/dashboards; run `obs init` or `obs dashboards build`")
    return documents


_REASONS: Final = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("timed out", "timed out"),
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
)


def _reason(error: Exception) -> str:
    text = str(error)
    for needle, said in _REASONS:
        if needle in text:
            return said
    return text.splitlines()[0][:160] if text else type(error).__name__


def _explain(error: Exception, url: str, token_env: str) -> GrafanaError:
    """One line for whatever went wrong talking to Grafana."""
    from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

    status = getattr(error, "status_code", 0)
    if isinstance(error, GrafanaUnauthorizedError) or status == 401:
        return GrafanaError(
            f"Grafana at {url} refused the credentials (401); set {token_env} to a valid "
            "service account token"
        )
    if status == 403:
        return GrafanaError(
            f"the token in {token_env} may not write dashboards at {url} (403); give its "
            "service account the Editor role"
        )
    if isinstance(error, GrafanaClientError) and status == 404:
        return GrafanaError(
            f"{url} has no Grafana API (404); pass Grafana's base URL, e.g. http://localhost:3000"
        )
    if isinstance(error, GrafanaException):
        return GrafanaError(f"Grafana at {url} answered an error: {error.message}")
    if isinstance(error, ValueError):  # a JSON decode error: something else answers on that URL
        return GrafanaError(f"{url} does not answer like Grafana (no JSON from /api); check --url")
    return GrafanaError(
        f"cannot reach Grafana at {url} ({_reason(error)}); check --url and that Grafana is running"
    )


def _push(args: argparse.Namespace) -> int:
    try:
        import niquests
        from grafana_client.api import GrafanaApi
        from grafana_client.client import GrafanaClientError, GrafanaException
    except ImportError:
        raise UsageError(CLIENT_MISSING) from None
    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {args.url!r} must start with http:// or https://")
    token = os.environ.get(args.token_env, "").strip()
    if not token and "@" not in url.split("//", 1)[1].split("/", 1)[0]:
        raise UsageError(
            f"set {args.token_env} to a Grafana service account token (Editor role), or name "
            "another variable with --token-env"
        )
    documents = _documents(observability_dir(args.dir))
    api = GrafanaApi.from_url(url, credential=token or None, timeout=args.timeout)
    try:
        api.health.check()
        try:
            api.folder.get_folder(FOLDER_UID)
        except GrafanaClientError as error:
            if error.status_code != 404:
                raise
            api.folder.create_folder(args.folder, uid=FOLDER_UID)
        for document in documents:
            payload = {key: value for key, value in document.items() if key not in ("id", "version")}
            answer = api.dashboard.update_dashboard(
                {"dashboard": payload, "folderUid": FOLDER_UID, "message": PUSH_MESSAGE, "overwrite": True}
            )
            where = answer.get("url", "") if isinstance(answer, dict) else ""
            print(f"pushed     {document.get('title', document['uid'])} -> {url}{where}")
    except (GrafanaException, niquests.exceptions.RequestException, ValueError) as error:
        raise _explain(error, url, args.token_env) from None
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dashboards",
        help="Rebuild the dashboards from their sources, or push them to a Grafana.",
        description="Grafana dashboards as code: observability/dashboards/src/*.py are the sources.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=type(parser))
    parser.set_defaults(handler=lambda args: _usage(parser))

    build_parser: argparse.ArgumentParser = commands.add_parser(
        "build",
        help="Rebuild dashboards/*.json from dashboards/src/*.py.",
        description="Run each dashboard source and write its JSON; nothing is written if any source fails.",
    )
    build_parser.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    build_parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if a JSON file is out of date (for CI)"
    )
    build_parser.set_defaults(handler=_build)

    push_parser: argparse.ArgumentParser = commands.add_parser(
        "push",
        help="Upload dashboards/*.json to a running Grafana.",
        description=f"Upload the dashboards into a Grafana folder, overwriting earlier pushes. The token is "
        f"read from ${TOKEN_ENV} (or the variable --token-env names); user:password@ in the URL works too.",
    )
    push_parser.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    push_parser.add_argument(
        "--url", required=True, help="Grafana's base URL, e.g. https://grafana.example.com"
    )
    push_parser.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        metavar="VAR",
        help=f"environment variable holding the token (default: {TOKEN_ENV})",
    )
    push_parser.add_argument("--folder", default="obs", help="title of the Grafana folder (default: obs)")
    push_parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default: 10)")
    push_parser.set_defaults(handler=_push)
