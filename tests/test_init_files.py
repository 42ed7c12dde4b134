"""The observability/ folder `obs init` writes hangs together: every path, host and uid one file names
exists in the others (compose mounts, Grafana provisioning, Prometheus rules, collector exporters)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from obs.agent.catalog import DATASOURCE_UIDS
from obs.agent.settings import load_settings
from obs.collector.grafana import ALERTMANAGER_UID

from obs.init.manifest import FILENAME as MANIFEST
from obs.init.plan import render_observability
from tests.init_helpers import copy_fixture, obs_init

FIXTURES = ("flask_shop", "fastapi_poetry", "django_setuppy")


@pytest.fixture(scope="module", params=FIXTURES)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_fixture(request.param, tmp_path_factory.mktemp("init"))
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    return root


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _mounts(service: dict[str, Any], base: Path) -> dict[str, Path]:
    """Container path -> host path of a compose service's bind mounts (named volumes are left out)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (base / source).resolve()
    return mounts


def _host_path(mounts: dict[str, Path], container_path: str) -> Path:
    """Where a path inside the container lives on the host, through the service's bind mounts."""
    for target, source in sorted(mounts.items(), key=lambda item: -len(item[0])):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not mounted (mounts: {sorted(mounts)})")


def _stack(root: Path) -> tuple[Path, dict[str, Any]]:
    folder = root / "observability"
    return folder, _yaml(folder / "compose.yaml")["services"]


def test_every_bind_mount_source_exists(project: Path) -> None:
    """Each `./path` compose mounts is a file or a non-empty folder that obs generated."""
    folder, services = _stack(project)
    sources = [source for service in services.values() for source in _mounts(service, folder).values()]
    assert sources
    for source in sources:
        assert source.is_file() or (source.is_dir() and any(source.iterdir())), source


def test_grafana_provisioning_points_at_the_dashboards_json(project: Path) -> None:
    """The dashboard provider's path is mounted from the folder holding every generated dashboard JSON,
    and each JSON has the editable grafanalib source it was built from."""
    folder, services = _stack(project)
    grafana = _mounts(services["grafana"], folder)
    provisioning = _host_path(grafana, "/etc/grafana/provisioning")
    assert (provisioning / "datasources").is_dir() and (provisioning / "dashboards").is_dir()
    providers = _yaml(provisioning / "dashboards" / "obs.yaml")["providers"]
    dashboards_dir = _host_path(grafana, providers[0]["options"]["path"])
    json_files = sorted(dashboards_dir.glob("*.json"))
    assert json_files
    assert dashboards_dir == (folder / "dashboards").resolve()
    for path in json_files:
        assert (dashboards_dir / "src" / f"{path.stem}.py").is_file()
        json.loads(path.read_text())


def _datasource_refs(text: str) -> set[str]:
    """Every ``"datasource": {"uid": ...}`` in a dashboard's JSON, however deep."""
    found: set[str] = set()

    def collect(node: dict[str, Any]) -> dict[str, Any]:
        source = node.get("datasource")
        if isinstance(source, dict) and isinstance(source.get("uid"), str):
            found.add(source["uid"])
        return node

    json.loads(text, object_hook=collect)
    return found


def test_dashboards_use_only_provisioned_datasources(project: Path) -> None:
    """Every datasource a dashboard names, directly or through a datasource variable, is provisioned, with
    the fixed uids, and is served by a compose service."""
    folder, services = _stack(project)
    provisioned = _yaml(folder / "grafana/provisioning/datasources/obs.yaml")["datasources"]
    by_uid = {source["uid"]: source for source in provisioned}
    assert set(by_uid) == {*DATASOURCE_UIDS.values(), ALERTMANAGER_UID}
    for source in provisioned:
        assert urlsplit(source["url"]).hostname in services
    for path in (folder / "dashboards").glob("*.json"):
        text = path.read_text()
        dashboard = json.loads(text)
        variables = {
            item["name"]: item for item in dashboard.get("templating", {}).get("list", [])
            if item.get("type") == "datasource"
        }
        for uid in _datasource_refs(text):
            variable = re.fullmatch(r"\$\{?(\w+)\}?", uid)
            if variable is None:
                assert uid in by_uid, (path.name, uid)
                continue
            chosen = variables[variable.group(1)]
            assert by_uid[chosen["current"]["value"]]["type"] == chosen["query"], (path.name, uid)


def test_prometheus_loads_the_rules_that_exist(project: Path) -> None:
    """Prometheus's config file and its rule_files globs resolve, through the mounts, to generated files."""
    folder, services = _stack(project)
    prometheus = services["prometheus"]
    mounts = _mounts(prometheus, folder)
    config_arg = next(arg for arg in prometheus["command"] if arg.startswith("--config.file="))
    config_path = config_arg.split("=", 1)[1]
    config = _host_path(mounts, config_path)
    rule_globs = _yaml(config)["rule_files"]
    container_dir = config_path.rsplit("/", 1)[0]
    matched = [
        path for pattern in rule_globs
        for path in _host_path(mounts, f"{container_dir}/{pattern}").parent.glob(Path(pattern).name)
    ]
    assert matched
    rules = {path.resolve() for path in (folder / "prometheus/rules").glob("*")}
    assert {path.resolve() for path in matched} == rules
    for path in matched:
        assert _yaml(path)["groups"]


def test_collector_config_is_mounted_and_exports_to_stack_services(project: Path) -> None:
    """The collector reads the generated config.yaml, sends to services compose defines, and listens on the
    ports compose publishes."""
    folder, services = _stack(project)
    collector = services["collector"]
    config_arg = next(arg for arg in collector["command"] if arg.startswith("--config="))
    config_file = _host_path(_mounts(collector, folder), config_arg.split("=", 1)[1])
    assert config_file == (folder / "collector/config.yaml").resolve()
    config = _yaml(config_file)
    for name, exporter in config["exporters"].items():
        if "endpoint" in exporter:
            endpoint = exporter["endpoint"]
            host = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}").hostname
            assert host in services, (name, endpoint)
    published = {int(port.rsplit(":", 1)[1]) for port in collector["ports"]}
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        assert int(protocol["endpoint"].rsplit(":", 1)[1]) in published
    for pipeline in config["service"]["pipelines"].values():
        assert set(pipeline["exporters"]) <= set(config["exporters"])


def test_files_match_the_settings_the_agent_reads(project: Path) -> None:
    """Rendering from what the agent will load ([tool.obs] or obs.toml) gives exactly the files on disk."""
    settings = load_settings(environ={}, cwd=project)
    folder = project / "observability"
    rendered = render_observability(settings)
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == {*rendered, MANIFEST}
    for relative, text in rendered.items():
        assert (folder / relative).read_text() == text
    record = json.loads((folder / MANIFEST).read_text())
    assert set(record["files"]) == set(rendered)


def test_obs_check_accepts_the_folder(project: Path) -> None:
    """`obs check` (collector, compose schema, rules, provisioning, dashboard lint) finds no problem."""
    result = subprocess.run(
        [sys.executable, "-m", "obs", "check", str(project / "observability")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems" in result.stdout
