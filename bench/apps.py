"""The apps under test and the ways to launch them: plain, under `obs run`, under opentelemetry-instrument.

Every mode runs the same server command; only a wrapper and the environment differ. The instrumented modes
export all signals over OTLP/HTTP protobuf to the same dropping peer (:mod:`bench.peer`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
"""Where the apps' commands come from (python, gunicorn, uvicorn, obs, opentelemetry-instrument): this
interpreter's venv, unless :func:`serve_from` chose another (``bench.run`` uses :mod:`bench.installed`)."""
APP_DIR = ROOT
"""The apps' working folder, from which ``examples`` imports (the checkout, unless :func:`serve_from` chose
another: in the checkout, its ``obs`` source folder would shadow an installed obs)."""


def serve_from(bin_folder: Path, app_dir: Path) -> None:
    """Launch the apps, and the wrappers, from ``bin_folder``, working in ``app_dir``, from now on."""
    global BIN, APP_DIR
    BIN, APP_DIR = bin_folder, app_dir


def app_python() -> str:
    """The interpreter the apps run on: the one in :data:`BIN`."""
    return str(BIN / "python")


def app_dir() -> Path:
    """The apps' working folder (:data:`APP_DIR`)."""
    return APP_DIR
# The bench's own variables never reach the app; nor does any OTEL_*/OBS_* set in the caller's shell.
_STRIPPED_PREFIXES = ("OTEL_", "OBS_", "BENCH_")


@dataclass(frozen=True)
class App:
    """An example app: how to serve it on a port, and the endpoint the load hits."""

    name: str
    title: str
    serve: Callable[[int], list[str]]
    path: str
    folder: str = ""
    """The example it serves (``examples/<folder>``); default ``<name>_app``."""
    needs: tuple[str, ...] = ()
    """Servers it talks to (bench.backends): ``postgresql``, ``redis``."""
    prepare: Callable[[Mapping[str, str]], None] | None = None
    """Run before each launch with the app's environment (the Django example migrates its sqlite file)."""

    @property
    def example(self) -> str:
        return self.folder or f"{self.name}_app"


@dataclass(frozen=True)
class Mode:
    """A way to launch an app: a command prefix and the environment it adds."""

    name: str
    title: str
    wrapper: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def instrumented(self) -> bool:
        return bool(self.wrapper)


def gunicorn(target: str) -> Callable[[int], list[str]]:
    """gunicorn with one sync worker, the shape the anchor figures were measured on."""
    return lambda port: [str(BIN / "gunicorn"), "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", target]


def gunicorn_django(project: str, module: str) -> Callable[[int], list[str]]:
    """gunicorn with one sync worker serving a Django project folder under ``examples`` (its own sys.path
    entry, as ``manage.py``'s folder is when a Django user runs gunicorn from it)."""
    return lambda port: [str(BIN / "gunicorn"), "-w", "1", "-k", "sync", "--chdir", str(APP_DIR / project),
                         "-b", f"127.0.0.1:{port}", module]


def migrate_django(project: str) -> Callable[[Mapping[str, str]], None]:
    """Create a Django project's tables in the database its environment names (quietly)."""
    def migrate(env: Mapping[str, str]) -> None:
        subprocess.run([app_python(), "manage.py", "migrate", "-v", "0"], cwd=APP_DIR / project,
                       env=dict(env), check=True, stdout=subprocess.DEVNULL)
    return migrate


def gunicorn_gevent(target: str) -> Callable[[int], list[str]]:
    """gunicorn with one gevent worker (greenlets: the agent's threads and locks must follow gevent's)."""
    return lambda port: [str(BIN / "gunicorn"), "-w", "1", "-k", "gevent", "-b", f"127.0.0.1:{port}", target]


def uvicorn(target: str) -> Callable[[int], list[str]]:
    """uvicorn, one process."""
    return lambda port: [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), target]


def modes(peer_endpoint: str, *, obs_default_is_full: bool, scrub_off: bool = False) -> list[Mode]:
    """plain, obs at its defaults, obs at 100% sampling (unless that is its default), the anchor; with
    ``scrub_off`` (``BENCH_SCRUB_AB=1``) also obs at its defaults with scrubbing off, for the A/B of its cost.

    The anchor runs all signals at its own default sampler (parent-based always-on, i.e. 100%), with the same
    stable semantic conventions obs turns on, so both sides produce the same telemetry.
    """
    export = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": peer_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "bench",
    }
    full = {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    obs = (str(BIN / "obs"), "run", "--")
    found = [
        Mode("plain", "plain"),
        Mode("obs", "obs run (defaults)" + (", 100% sampling" if obs_default_is_full else ""), obs, export),
    ]
    if not obs_default_is_full:
        found.append(Mode("obs-full", "obs run, 100% sampling", obs, {**export, **full}))
    if scrub_off:
        no_scrub = {**export, "OBS_SCRUB": "off"}
        found.append(Mode("obs-noscrub", "obs run (defaults), scrubbing off", obs, no_scrub))
    found.append(
        Mode(
            "otel",
            "opentelemetry-instrument, all signals",
            (str(BIN / "opentelemetry-instrument"),),
            {
                **export,
                **full,
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
                "OTEL_SEMCONV_STABILITY_OPT_IN": "http,database",
            },
        )
    )
    return found


def environment(mode: Mode, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without telemetry settings, plus the mode's."""
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if not key.startswith(_STRIPPED_PREFIXES)}
    env["PYTHONPATH"] = str(APP_DIR)  # where ``examples`` imports from, whatever the working folder
    env.update(mode.env)
    return env


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """One app served in one mode: ``with Running(app, mode, log) as server:`` waits until it answers."""

    def __init__(self, app: App, mode: Mode, log: Path, *, ready_timeout: float = 60.0) -> None:
        self.app = app
        self.mode = mode
        self.port = free_port()
        self._log = log
        self._ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The launched process: the server itself, or the wrapper that started it."""
        assert self._process is not None
        return self._process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.app.path}"

    def __enter__(self) -> Running:
        env = self._environment()
        if self.app.prepare is not None:
            self.app.prepare(env)
        with self._log.open("wb") as sink:
            self._process = subprocess.Popen(
                [*self.mode.wrapper, *self.app.serve(self.port)],
                cwd=APP_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _environment(self) -> dict[str, str]:
        """The mode's environment; the examples' sqlite file next to the log, away from other users' runs."""
        env = environment(self.mode)
        env.setdefault("EXAMPLES_DB", str(self._log.parent / "examples.sqlite3"))
        env.setdefault("SHOP_SQLITE", str(self._log.parent / "django.sqlite3"))
        return env

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.app.name} under {self.mode.name} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if 200 <= response.status < 300:  # the enqueue route answers 202 Accepted
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.app.name} under {self.mode.name} did not answer {self.url}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def worker(self) -> psutil.Process:
        """The serving process: of those holding the listening socket, the one deepest in the tree."""
        assert self._process is not None
        root = psutil.Process(self._process.pid)
        listening = [
            process for process in [root, *root.children(recursive=True)] if _listens(process, self.port)
        ]
        if not listening:
            raise RuntimeError(f"no process of {self.app.name} under {self.mode.name} listens on {self.port}")
        pids = {process.pid for process in listening}
        leaves = [p for p in listening if not any(c.pid in pids for c in p.children(recursive=True))]
        return leaves[0]

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM the launched process (the server or the wrapper), as a user's Ctrl-C or supervisor would;
        kill the whole group if it lingers. Returns how long it took to exit."""
        if self._process is None or self._process.poll() is not None:
            return 0.0
        started = time.perf_counter()
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        waited = time.perf_counter() - started
        # Nothing of the group may outlive the round (a stray worker would steal the next one's CPU).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        return waited


def _listens(process: psutil.Process, port: int) -> bool:
    try:
        connections = process.net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)
