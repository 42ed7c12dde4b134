"""How the bench launches apps: the same server command in every mode, only wrapper and environment differ."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import psutil

from bench.apps import BIN, ROOT, App, Running, environment, gunicorn, modes, uvicorn


def test_plain_mode_gets_no_telemetry_settings_from_the_callers_shell() -> None:
    """OTEL_*, OBS_* and BENCH_* variables of the caller never reach the app; PYTHONPATH is the repository so
    the examples import; the rest of the environment is kept."""
    plain = modes("http://127.0.0.1:9", obs_default_is_full=True)[0]
    env = environment(plain, {"OTEL_TRACES_SAMPLER": "always_off", "OBS_X": "1", "BENCH_QUICK": "1",
                              "HOME": "/root", "PYTHONPATH": "/elsewhere"})
    assert env == {"HOME": "/root", "PYTHONPATH": str(ROOT)}


def test_instrumented_modes_export_every_signal_to_the_peer() -> None:
    """obs and the anchor both point OTLP/HTTP protobuf at the peer; the anchor turns on traces, metrics and
    logs exporters, log bridging and the stable semantic conventions, at 100% sampling."""
    by_name = {mode.name: mode for mode in modes("http://127.0.0.1:9", obs_default_is_full=True)}
    assert list(by_name) == ["plain", "obs", "otel"]
    for name in ("obs", "otel"):
        assert by_name[name].env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:9"
        assert by_name[name].env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    otel = by_name["otel"].env
    assert [otel[f"OTEL_{s}_EXPORTER"] for s in ("TRACES", "METRICS", "LOGS")] == ["otlp"] * 3
    assert otel["OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"] == "true"
    assert otel["OTEL_SEMCONV_STABILITY_OPT_IN"] == "http,database"
    assert otel["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    assert by_name["obs"].wrapper == (str(BIN / "obs"), "run", "--")
    assert "OTEL_TRACES_SAMPLER" not in by_name["obs"].env


def test_obs_is_also_run_at_full_sampling_when_its_default_samples_less() -> None:
    """When obs's default sampler keeps fewer than all traces, a second obs mode forces 100%."""
    by_name = {mode.name: mode for mode in modes("http://p", obs_default_is_full=False)}
    assert list(by_name) == ["plain", "obs", "obs-full", "otel"]
    assert by_name["obs-full"].env["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"


def test_servers_bind_loopback_on_the_given_port_with_one_worker() -> None:
    """gunicorn runs one sync worker and uvicorn one process, both on 127.0.0.1 and the given port."""
    app = App("flask", "Flask", gunicorn("pkg.mod:app"), "/get")
    assert app.serve(8123) == [str(BIN / "gunicorn"), "-w", "1", "-k", "sync", "-b", "127.0.0.1:8123",
                               "pkg.mod:app"]
    assert uvicorn("pkg.mod:app")(8123) == [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", "8123",
                                             "pkg.mod:app"]


def test_running_finds_the_gunicorn_worker_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """Started plain, the app answers at its URL; the worker found is the master's child that serves (the
    master also holds the listening socket); after stop no process of the group is left."""
    (tmp_path / "tiny.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [b'{}']\n"
    )
    serve = gunicorn("tiny:app")
    app = App("tiny", "tiny", lambda port: [*serve(port), "--pythonpath", str(tmp_path)], "/get")
    plain = modes("http://p", obs_default_is_full=True)[0]
    with Running(app, plain, tmp_path / "log.txt") as server:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.read() == b"{}"
        master = psutil.Process(server.pid)
        worker = server.worker()
        assert worker.ppid() == master.pid
        group = [master, *master.children(recursive=True)]
    _, alive = psutil.wait_procs(group, timeout=5)
    assert alive == []


def test_the_django_example_is_migrated_then_served_plain_and_under_obs(tmp_path: Path) -> None:
    """The bench's Django row: its sqlite file is migrated (with the seeded item) before each launch, and the
    ORM read it loads answers the same JSON plain and under `obs run`."""
    from bench.run import APPS

    (django,) = [app for app in APPS if app.name == "django"]
    answers = []
    for mode in modes("http://127.0.0.1:9", obs_default_is_full=True)[:2]:
        with (Running(django, mode, tmp_path / f"{mode.name}.log") as server,
              urllib.request.urlopen(server.url, timeout=10) as response):
            answers.append((response.status, response.read()))
    assert answers == [(200, b'{"name": "pear"}')] * 2
