"""`obs check`: generated folders pass; each kind of broken input is reported as one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from obs.collector import IMAGES

from obs.checks import compose as compose_check
from obs.checks import grafana as grafana_check
from obs.cli import main
from tests.observability_tree import make_settings, rendered_files, write_tree
from tests.tools import amtool, docker_client, promtool

SETTINGS_VARIANTS = [
    {"service_name": "shop"},
    {"service_name": "billing-api", "instrumentations": ("flask", "requests", "sqlite3")},
    {
        "service_name": "catalog",
        "instrumentations": ("fastapi", "httpx", "sqlalchemy"),
        "environment": "staging",
    },
    {"service_name": "Worker Pool", "instrumentations": ("celery", "redis")},
]


@pytest.fixture(autouse=True)
def _tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_PROMTOOL", promtool())
    monkeypatch.setenv("OBS_AMTOOL", amtool())
    monkeypatch.delenv("OBS_DOCKER", raising=False)


def _generate(tmp_path: Path, **overrides: object) -> Path:
    settings = make_settings(tmp_path, **{"service_name": "shop", **overrides})
    return write_tree(tmp_path / "observability", rendered_files(settings))


def _check(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["check", str(folder)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def _edit(path: Path, old: str, new: str, count: int = -1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


@pytest.mark.parametrize("overrides", SETTINGS_VARIANTS, ids=lambda item: str(item["service_name"]))
def test_generated_output_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, object]
) -> None:
    """What the renderers produce for several services and instrumentation sets has no findings."""
    folder = _generate(tmp_path, **overrides)
    code, out, err = _check(folder, capsys)
    assert code == 0, "\n".join(out) + err
    assert out[-1].endswith("no problems")
    assert "promtool" not in err  # the rules were checked by promtool, not skipped
    assert "amtool" not in err  # and the Alertmanager config by amtool


Edit = tuple[str, str, str, int]
"""(file under observability/, text to replace, replacement, how many times; -1 for all)."""

BROKEN_CASES: list[tuple[str, list[Edit], list[str]]] = [
    (
        "pipeline naming an undefined exporter",
        [("collector/config.yaml", "        - otlp_http/loki", "        - otlp_http/lokii", -1)],
        [
            "collector/config.yaml: service.pipelines.logs names exporter `otlp_http/lokii`, which is not "
            "defined under `exporters` — define `otlp_http/lokii` under `exporters` or use one of: "
            "otlp_grpc/tempo, otlp_http/loki, otlp_http/prometheus"
        ],
    ),
    (
        "bad compose key",
        [
            (
                "compose.yaml",
                "    restart: unless-stopped\n  prometheus:",
                "    restrat: always\n  prometheus:",
                1,
            )
        ],
        [
            "compose.yaml: services.collector: Unevaluated properties are not allowed ('restrat' was "
            "unexpected) — see the compose specification for the keys a service accepts"
        ],
    ),
    (
        "batch before memory_limiter",
        [
            ("collector/gateway.yaml", "        - memory_limiter\n", "        - batch_first\n", 1),
            ("collector/gateway.yaml", "        - batch\n", "        - memory_limiter\n", 1),
            ("collector/gateway.yaml", "        - batch_first\n", "        - batch\n", 1),
        ],
        [
            "collector/gateway.yaml: service.pipelines.traces runs `batch` before `memory_limiter` — "
            "move `memory_limiter` first",
            "collector/gateway.yaml: service.pipelines.traces runs `memory_limiter` after `batch` — "
            "move `batch` last",
        ],
    ),
    (
        "removed component name",
        [
            (
                "collector/config.yaml",
                "  otlp_grpc/tempo:",
                "  logging:\n    verbosity: basic\n  otlp_grpc/tempo:",
                1,
            ),
        ],
        [
            "collector/config.yaml: exporters.logging: exporter `logging` no longer exists in "
            "collector-contrib 0.154.0 — use `debug`",
        ],
    ),
    (
        "Alertmanager duration amtool refuses",
        [("alertmanager/alertmanager.yml", "group_interval: 5m", "group_interval: 5x", 1)],
        [
            'alertmanager/alertmanager.yml: amtool: unknown unit "x" in duration "5x" — fix it so that '
            "`amtool check-config` accepts it"
        ],
    ),
    (
        "literal secret in a collector config",
        [("collector/otlp.yaml", "${env:OBS_OTLP_AUTHORIZATION}", "Basic dXNlcjpwYXNz", -1)],
        [
            "collector/otlp.yaml: exporters.otlp_http/vendor.headers.Authorization holds a literal secret "
            "— write `${env:VAR}` and set VAR in the collector's environment"
        ],
    ),
    (
        "receiver bound to localhost",
        [("collector/config.yaml", "endpoint: 0.0.0.0:4318", "endpoint: localhost:4318", -1)],
        [
            "collector/config.yaml: receivers.otlp.protocols.http.endpoint listens on localhost:4318, "
            "unreachable from outside a container — bind 0.0.0.0:4318"
        ],
    ),
    (
        "unescaped Grafana variable in provisioning",
        [("grafana/provisioning/datasources/obs.yaml", "$${__value.raw}", "${__value.raw}", -1)],
        [
            "grafana/provisioning/datasources/obs.yaml: `${__value.raw}` will be expanded by Grafana as an "
            "environment variable — write `$${__value.raw}`"
        ],
    ),
    (
        "backend config that is not YAML",
        [("loki/loki.yaml", "auth_enabled: false", "auth_enabled: [false", 1)],
        [
            "loki/loki.yaml: is not valid YAML at line 3, column 7 (expected ',' or ']', but got ':') "
            "— fix the YAML syntax"
        ],
    ),
    (
        "port on every interface and an unpinned image",
        [
            ("compose.yaml", "127.0.0.1:3000:3000", "3000:3000", -1),
            ("compose.yaml", f"image: {IMAGES['grafana']}", "image: grafana/grafana:latest", -1),
        ],
        [
            "compose.yaml: services.grafana.image `grafana/grafana:latest` is not pinned — "
            "name an exact version tag, so that the stack does not change under you",
            "compose.yaml: services.grafana.ports publishes `3000:3000` on every network interface — "
            "prefix it with 127.0.0.1: (the stack has no authentication)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("edits", "expected"), [case[1:] for case in BROKEN_CASES], ids=[c[0] for c in BROKEN_CASES]
)
def test_broken_input_is_one_clear_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: list[Edit], expected: list[str]
) -> None:
    """Each broken input gives exactly the expected lines (file, what is wrong, what to fix) and exit 1."""
    folder = _generate(tmp_path)
    for relative, old, new, count in edits:
        _edit(folder / relative, old, new, count)
    code, out, err = _check(folder, capsys)
    assert code == 1
    assert out == expected
    count_word = f"{len(expected)} problem{'s' if len(expected) != 1 else ''}"
    assert f"obs: CheckFailed: {count_word} in {folder} (listed above)" in err


def test_deprecated_aliases_pass_with_a_note_naming_the_new_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The collector still loads a deprecated alias (with a warning): check passes and notes the rename."""
    folder = _generate(tmp_path)
    config = folder / "collector/config.yaml"
    _edit(config, "otlp_http/loki", "otlphttp/loki")
    _edit(config, "resource_detection", "resourcedetection")
    code, out, err = _check(folder, capsys)
    assert code == 0, "\n".join(out) + err
    assert out[-1].endswith("no problems")
    assert (
        "note: collector/config.yaml: exporters.otlphttp/loki: exporter `otlphttp` is a deprecated alias of "
        "`otlp_http` in collector-contrib 0.154.0: it still loads, with a warning; rename it `otlp_http` "
        "before the alias is removed"
    ) in err
    assert "processors.resourcedetection: processor `resourcedetection` is a deprecated alias of " in err


def test_bad_rule_expression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """promtool's parse error is reported against the rule file, with the rule it is in."""
    folder = _generate(tmp_path)
    _edit(folder / "prometheus/rules/obs-alerts.yaml", "} > 0.05", "} >> 0.05")
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert len(out) == 1
    assert out[0].startswith(
        'prometheus/rules/obs-alerts.yaml: 18:15: group "obs-shop-alerts", rule 1, '
        '"ObsHighErrorRatio": could not parse expression'
    )
    assert out[0].endswith(" — fix the PromQL expression")


def test_missing_generated_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file compose.yaml mounts but that is gone is named, with how to get it back."""
    folder = _generate(tmp_path)
    (folder / "tempo/tempo.yaml").unlink()
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "compose.yaml: services.tempo mounts `./tempo/tempo.yaml`, which does not exist — run "
        "`obs init` to generate it, or fix the path"
    ]


def test_broken_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A syntax error is one line with its position, not a traceback."""
    folder = _generate(tmp_path)
    (folder / "collector/otlp.yaml").write_text("receivers: [otlp\n", encoding="utf-8")
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert len(out) == 1
    assert out[0].startswith("collector/otlp.yaml: is not valid YAML at line 2")
    assert out[0].endswith("— fix the YAML syntax")


def test_without_promtool_rules_are_checked_for_structure_and_a_note_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no promtool anywhere, a valid folder still passes, and stderr says what was not checked."""
    folder = _generate(tmp_path)
    monkeypatch.delenv("OBS_PROMTOOL")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, out, err = _check(folder, capsys)
    assert code == 0
    assert "note: promtool not found: alert rule expressions were not checked" in err
    _edit(folder / "prometheus/rules/obs-alerts.yaml", "    rules:\n", "    rulez:\n", count=1)
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "prometheus/rules/obs-alerts.yaml: groups[0] has no `rules` list — give each group a name and "
        "a rules list"
    ]


RESTRAT = ("    restart: unless-stopped\n  prometheus:", "    restrat: always\n  prometheus:")
"""A misspelt key in the collector service of compose.yaml."""


def test_docker_compose_config_adds_what_the_schema_does_not_catch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a Docker client and its compose plugin (no engine needed), `compose config` runs after the schema.

    (Here the schema is made to find nothing, to see what compose config adds.)
    """
    docker, env = docker_client()
    monkeypatch.setattr(compose_check, "_schema_errors", lambda document: [])
    monkeypatch.setenv("OBS_DOCKER", docker)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    folder = _generate(tmp_path)
    _edit(
        folder / "compose.yaml",
        "    restart: unless-stopped\n  prometheus:",
        "    restrat: always\n  prometheus:",
    )
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "compose.yaml: services.collector additional properties 'restrat' not allowed — see the compose "
        "specification for the keys a service accepts"
    ]


def test_a_docker_client_without_compose_counts_as_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker 28 without its compose plugin answers `unknown flag: --file`: no false problems; schema runs.

    The real client, with a DOCKER_CONFIG that holds no cli-plugins, is a machine without the plugin.
    """
    docker, _ = docker_client()
    monkeypatch.setenv("OBS_DOCKER", docker)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-plugins"))
    folder = _generate(tmp_path)
    assert compose_check._docker_config_errors(folder / "compose.yaml") is None
    code, out, err = _check(folder, capsys)
    assert (code, out[:-1]) == (0, []), "\n".join(out) + err
    _edit(folder / "compose.yaml", *RESTRAT)
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "compose.yaml: services.collector: Unevaluated properties are not allowed ('restrat' was "
        "unexpected) — see the compose specification for the keys a service accepts"
    ]


def test_without_docker_the_compose_schema_check_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Docker, no check-jsonschema: the schema shipped with obs catches a bad key; nothing skipped."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setitem(sys.modules, "check_jsonschema", None)  # obs needs no check-jsonschema anywhere
    folder = _generate(tmp_path)
    code, _, err = _check(folder, capsys)
    assert code == 0
    assert "compose.yaml was not checked" not in err
    _edit(folder / "compose.yaml", *RESTRAT)
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert len(out) == 1 and "'restrat' was unexpected" in out[0]


@pytest.mark.parametrize(
    "text", ["", "\n", "# only a comment\n# and another\n"], ids=["empty", "blank", "comments"]
)
def test_empty_or_comment_only_collector_config_fails_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """A collector config with nothing in it would start no pipeline: one line naming the file, exit 1."""
    folder = _generate(tmp_path)
    (folder / "collector/gateway.yaml").write_text(text, encoding="utf-8")
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "collector/gateway.yaml: is empty (nothing but comments): the collector would have no pipeline to "
        "run — regenerate it with `obs init`, or write receivers, exporters and service.pipelines"
    ]


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (
            "collector/config.yaml",
            "collector/config.yaml: is nested too deeply to read (brackets or indentation hundreds of levels "
            "deep) — flatten it, or regenerate it with `obs init`",
        ),
        (
            "dashboards/deep.json",
            "dashboards/deep.json: nested too deeply to read (brackets hundreds of levels deep)",
        ),
    ],
    ids=["collector config", "dashboard"],
)
def test_deeply_nested_input_is_one_line_not_a_traceback(
    tmp_path: Path, relative: str, expected: str
) -> None:
    """100,000 nested brackets overflow the parsers' recursion: one line for the file, no RecursionError."""
    folder = _generate(tmp_path)
    (folder / relative).write_text(DEEP, encoding="utf-8")
    env = {**os.environ, "OBS_PROMTOOL": promtool()}
    result = subprocess.run(
        [sys.executable, "-m", "obs", "check", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert result.stdout.splitlines() == [expected]


def test_project_folder_and_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DIR may be the project holding observability/; a folder that does not exist is one error line."""
    _generate(tmp_path)
    code, out, _ = _check(tmp_path, capsys)
    assert code == 0
    code, out, err = _check(tmp_path / "nowhere", capsys)
    assert code == 1 and out == []
    assert err.strip() == (
        f"obs: ProjectError: {tmp_path / 'nowhere'} is not a folder — run `obs init` to "
        "generate it, or name the folder to use"
    )


def test_command_line_exit_status(tmp_path: Path) -> None:
    """Run as a program: exit 0 on generated output, 1 with the findings on stdout when one is broken."""
    folder = _generate(tmp_path)
    command = [sys.executable, "-m", "obs", "check", str(folder)]
    env = {**os.environ, "OBS_PROMTOOL": promtool()}
    assert subprocess.run(command, capture_output=True, text=True, env=env, timeout=60).returncode == 0
    _edit(folder / "collector/config.yaml", "        - otlp_http/loki", "        - otlp_http/lokii")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith("collector/config.yaml: service.pipelines.logs names exporter")
    assert "Traceback" not in result.stderr


def test_dashboard_problems_come_from_the_dashboards_lint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dashboard pointing at a datasource provisioning does not define is reported against its file."""
    folder = _generate(tmp_path)
    reference = '"uid": "${metrics}"'
    dashboards = [
        path for path in sorted((folder / "dashboards").glob("*.json")) if reference in path.read_text()
    ]
    assert dashboards, "no generated dashboard uses the metrics datasource variable"
    _edit(dashboards[0], reference, '"uid": "prom-old"', count=1)
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out
    assert all(line.startswith(f"dashboards/{dashboards[0].name}: ") for line in out)
    assert any("prom-old" in line for line in out)


def test_without_the_dashboards_lint_json_and_datasources_are_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where obs.dashboards has no lint, a note says so and the basic checks still run."""
    monkeypatch.setattr(grafana_check, "_lint_module", lambda: None)
    folder = _generate(tmp_path)
    (folder / "dashboards/broken.json").write_text("{not json", encoding="utf-8")
    (folder / "dashboards/stale.json").write_text(
        '{"panels": [{"datasource": {"type": "prometheus", "uid": "prom-old"}}]}', encoding="utf-8"
    )
    code, out, err = _check(folder, capsys)
    assert code == 1
    assert "note: dashboard lint is not available in this version of obs" in err
    assert out == [
        "dashboards/broken.json: is not valid JSON (Expecting property name enclosed in double quotes at "
        "line 1) — fix or regenerate it",
        "dashboards/stale.json: refers to datasource uid `prom-old`, which provisioning does not define — "
        "use one of obs-loki, obs-prometheus, obs-tempo",
    ]


def test_a_remote_profile_names_its_endpoint_variable_when_it_is_not_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway and vendor profiles stop at start without their endpoint variable: a note names each one
    while it is unset, none once it is set; the local stack's own config is unaffected (exit 0)."""
    monkeypatch.delenv("OBS_GATEWAY_ENDPOINT", raising=False)
    monkeypatch.delenv("OBS_OTLP_ENDPOINT", raising=False)
    folder = _generate(tmp_path)
    code, _, err = _check(folder, capsys)
    assert code == 0
    notes = [line for line in err.splitlines() if "endpoint)" in line]
    assert notes == [
        "note: collector/gateway.yaml needs OBS_GATEWAY_ENDPOINT (its exporters.otlp_grpc/gateway.endpoint) "
        "set and non-empty in the collector's environment, or the collector stops at start; it is not set "
        "here",
        "note: collector/otlp.yaml needs OBS_OTLP_ENDPOINT (its exporters.otlp_http/vendor.endpoint) set and "
        "non-empty in the collector's environment, or the collector stops at start; it is not set here",
    ]
    monkeypatch.setenv("OBS_GATEWAY_ENDPOINT", "central:4317")
    monkeypatch.setenv("OBS_OTLP_ENDPOINT", "https://otlp.example.com")
    code, _, err = _check(folder, capsys)
    assert code == 0 and "endpoint)" not in err


def test_the_config_compose_runs_must_get_its_endpoint_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gateway profile copied over collector/config.yaml: compose does not pass the variable to the
    collector, so it would crash-loop under `obs up`; one finding names the variable and the fix."""
    folder = _generate(tmp_path)
    (folder / "collector/config.yaml").write_text(
        (folder / "collector/gateway.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "collector/config.yaml: exporters.otlp_grpc/gateway.endpoint reads OBS_GATEWAY_ENDPOINT, which "
        "compose.yaml does not pass to the collector that runs this file: it would stop at start (`requires "
        'a non-empty "endpoint"`) — add `OBS_GATEWAY_ENDPOINT: ${OBS_GATEWAY_ENDPOINT}` under '
        "services.collector.environment and set it"
    ]


def test_alerts_that_notify_nobody_are_noted_and_a_broken_route_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh tree passes with a note that receiver obs-team has no integration yet; filled in, the note
    goes; a route to an undefined receiver, or a Prometheus that sends alerts nowhere, is a finding."""
    folder = _generate(tmp_path)
    config = folder / "alertmanager/alertmanager.yml"
    code, _, err = _check(folder, capsys)
    assert code == 0
    assert "note: alertmanager/alertmanager.yml: no receiver has an integration, so alerts notify nobody" in (
        err
    )
    filled = "  - name: obs-team\n    webhook_configs:\n      - url: http://127.0.0.1:9/hook\n"
    _edit(config, "\n  - name: obs-team\n", "\n" + filled)
    code, _, err = _check(folder, capsys)
    assert code == 0 and "notify nobody" not in err
    _edit(config, "  receiver: obs-team\n", "  receiver: obs-tema\n")
    prometheus = folder / "prometheus/prometheus.yml"
    document = yaml.safe_load(prometheus.read_text(encoding="utf-8"))
    del document["alerting"]
    prometheus.write_text(yaml.safe_dump(document), encoding="utf-8")
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        'alertmanager/alertmanager.yml: amtool: undefined receiver "obs-tema" used in route — fix it so that '
        "`amtool check-config` accepts it",
        "prometheus/prometheus.yml: has no `alerting.alertmanagers`: alerts fire but are sent nowhere — add "
        "`alerting: {alertmanagers: [{static_configs: [{targets: [alertmanager:9093]}]}]}`",
    ]


def test_without_amtool_the_alertmanager_config_is_checked_for_structure_and_a_note_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no amtool anywhere, a valid folder still passes with a note; a route to an undefined receiver is
    still found, by the structural check."""
    folder = _generate(tmp_path)
    monkeypatch.delenv("OBS_AMTOOL")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, _, err = _check(folder, capsys)
    assert code == 0
    assert "note: amtool not found: alertmanager/alertmanager.yml was checked for structure only" in err
    assert "notify nobody" in err
    _edit(folder / "alertmanager/alertmanager.yml", "  receiver: obs-team\n", "  receiver: obs-tema\n")
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == [
        "alertmanager/alertmanager.yml: route sends alerts to receiver `obs-tema`, which `receivers` does "
        "not define — define it, or use one of: obs-team",
    ]


def test_unescaped_tags_variable_in_span_to_metrics_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`$__tags` without Grafana's `$$` escape would be replaced by an (empty) environment variable."""
    folder = _generate(tmp_path)
    _edit(folder / "grafana/provisioning/datasources/obs.yaml", "$$__tags", "$__tags")
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert set(out) == {
        "grafana/provisioning/datasources/obs.yaml: `$__tags` will be expanded by Grafana as an environment "
        "variable — write `$$__tags`"
    }
