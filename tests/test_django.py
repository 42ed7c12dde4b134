"""Django sites under obs answer exactly as without it, and every request and ORM query is recorded.

The site is made the way Django users make theirs (``django-admin startproject`` + ``startapp``, a model,
``makemigrations``, ``migrate``: examples/django_site.py), once for the module, and served by gunicorn
(``mysite.wsgi``), uvicorn and daphne (``mysite.asgi``) and ``manage.py runserver`` (with ``--noreload``, and
as developers run it, its autoreloader serving from a child process): plain, under
``obs run`` with and without ``DJANGO_SETTINGS_MODULE`` exported (Django's own ``wsgi.py`` sets it only
after importing ``django.core.wsgi``), and with ``import obs; obs.init()`` at the top of ``wsgi.py``,
``asgi.py`` or ``manage.py``. Telemetry goes over real OTLP to the test receiver; the database is the site's
sqlite file, or a real PostgreSQL server (tests/servers.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.django_site import PROJECT, make_site, migrate
from examples.launch import free_port, wait_until_answers
from tests.agent_run import OBS, clean_environment, stop_process_group
from tests.otlp_receiver import OTLPReceiver, Span
from tests.servers import MariaDB, PostgreSQL

pytest.importorskip("django")

SERVER, CLIENT = 2, 3
UNSET, ERROR = 0, 2
BIN = Path(sys.executable).parent
PATHS = ("/", "/nope/", "/items/ghost/", "/boom/", "/items/apple/touch/", "/items/apple/")
"""ok, no URL match (404), Http404 from a view, an unhandled exception (500), an ORM write, an ORM read."""
ROUTES = {"/items/ghost/": "items/<str:name>/", "/boom/": "boom/",
          "/items/apple/touch/": "items/<str:name>/touch/", "/items/apple/": "items/<str:name>/"}
INIT_LINE = "import obs; obs.init()\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh Django site, migrated; plus copies of its ``wsgi.py``, ``asgi.py`` and ``manage.py`` that
    start with ``import obs; obs.init()`` (the way the README says to use obs in code)."""
    folder = make_site(tmp_path_factory.mktemp("django") / "site")
    for original, copy in ((f"{PROJECT}/wsgi.py", f"{PROJECT}/wsgi_obs.py"),
                           (f"{PROJECT}/asgi.py", f"{PROJECT}/asgi_obs.py"), ("manage.py", "manage_obs.py")):
        (folder / copy).write_text(INIT_LINE + (folder / original).read_text())
    return folder


def _command(server: str, port: int, init: bool) -> list[str]:
    suffix = "_obs" if init else ""
    if server == "gunicorn":
        return [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", f"{PROJECT}.wsgi{suffix}"]
    if server == "uvicorn":
        return [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
                f"{PROJECT}.asgi{suffix}:application"]
    if server == "daphne":
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                f"{PROJECT}.asgi{suffix}:application"]
    reload = [] if server == "runserver-autoreload" else ["--noreload"]  # its default: a reloader parent
    return [sys.executable, f"manage{suffix}.py", "runserver", *reload, f"127.0.0.1:{port}"]


@dataclass(frozen=True)
class Served:
    answers: list[tuple[int, bytes]]
    output: str


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _serve(site: Path, server: str, *, obs: str, env: dict[str, str], receiver: OTLPReceiver | None = None,
           settings_exported: bool = False, spans: int = len(PATHS) + 1) -> Served:
    """Serve the site (``obs``: "no", "run" or "init"), ask for :data:`PATHS` in order, wait until the
    receiver counted them all and has ``spans`` server spans (when there is one), stop the server with
    SIGTERM."""
    port = free_port()
    environment = clean_environment({"PYTHONPATH": str(site), **env})
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    if settings_exported:
        environment["DJANGO_SETTINGS_MODULE"] = f"{PROJECT}.settings"
    if receiver is not None:
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        environment["OTEL_SERVICE_NAME"] = "django-test"
    else:
        environment["OTEL_SDK_DISABLED"] = "true"  # a stray obs.init() must not matter to the plain run
    command = _command(server, port, init=obs == "init")
    if obs == "run":
        command = [OBS, "run", "--", *command]
    process = subprocess.Popen(command, cwd=site, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/", process)
        answers = [_get(f"http://127.0.0.1:{port}{path}") for path in PATHS]
        if receiver is not None:
            sent = len(PATHS) + 1
            receiver.wait_for(lambda: _counted(receiver) >= sent and len(_servers(receiver)) >= spans)
    finally:
        # the autoreloader's parent leaves its serving child running on SIGTERM: the whole group then
        output = stop_process_group(process, timeout=20, leader_only=server != "runserver-autoreload")
    return Served(answers, output)


def _counted(receiver: OTLPReceiver) -> int:
    return sum(point.count for point in receiver.latest_points("http.server.request.duration"))


def _servers(receiver: OTLPReceiver) -> list[Span]:
    return [span for span in receiver.spans() if span.kind == SERVER]


_plain: dict[str, list[tuple[int, bytes]]] = {}


def _plain_answers(site: Path, server: str) -> list[tuple[int, bytes]]:
    """What the site answers without obs under ``server`` (once per server for the module)."""
    if server not in _plain:
        _plain[server] = _serve(site, server, obs="no", env={}).answers
    return _plain[server]


def _check_telemetry(receiver: OTLPReceiver, output: str, system: str) -> None:
    """One SERVER span per request with Django's route templates, 4xx unset and 500 an error with its
    exception; RED metrics counting every request; one CLIENT span per ORM query with the stable database
    attributes, no parameter values, under its request's span."""
    servers = _servers(receiver)
    paths = Counter(span.attributes.get("url.path") for span in servers)
    probes = paths["/"] - 1  # the readiness probe asks for "/" until it answers (retries on a slow start)
    assert paths == {path: 1 + (probes if path == "/" else 0) for path in PATHS}, output[-3000:]
    assert _counted(receiver) == len(servers), "each request counted once in the RED metrics"
    by_path = {span.attributes.get("url.path"): span for span in servers}
    for path, route in ROUTES.items():
        assert by_path[path].attributes.get("http.route") == route
        assert by_path[path].name == f"GET {route}"
    assert "http.route" not in by_path["/nope/"].attributes
    for path in ("/nope/", "/items/ghost/", "/", "/items/apple/"):
        assert by_path[path].status_code == UNSET, path
    failed = by_path["/boom/"]
    assert failed.status_code == ERROR
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.attributes["error.type"] == "500"
    assert "exception" in failed.events
    statuses = Counter(point.attributes.get("http.response.status_code")
                       for point in receiver.latest_points("http.server.request.duration")
                       for _ in range(point.count))
    assert statuses == {200: 3 + probes, 404: 2, 500: 1}
    clients = [span for span in receiver.spans() if span.kind == CLIENT]
    ours = [span for span in clients if span.scope == "obs.agent.django.db"]
    texts = {span.attributes["db.query.text"] for span in ours}
    drivers = [span for span in clients if span not in ours]
    assert not [span for span in drivers if span.attributes.get("db.query.text") in texts], (
        "one span per query, not the driver's too", [span.attributes for span in drivers])
    assert drivers == [], "a driver that came with Django's ORM is left to obs (1 ms a connection)"
    clients = ours
    by_id = {span.span_id: span for span in servers}
    queries = [span for span in clients if span.parent_span_id in by_id]  # runserver's start-up checks: roots
    assert all(not span.parent_span_id for span in clients if span not in queries)
    for query in queries:
        assert query.attributes["db.system.name"] == system, query
        operation = query.attributes["db.operation.name"]
        if operation in ("SELECT", "INSERT", "UPDATE"):
            assert query.attributes["db.collection.name"] == "shop_item", query.attributes
            assert query.name == f"{operation} shop_item"
        else:  # get_or_create's transaction; MySQL's session set-up as a request opens the connection
            assert operation in ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "SET"), query.attributes
        assert "apple" not in query.attributes["db.query.text"], "parameter values stay out"
        assert by_id[query.parent_span_id].trace_id == query.trace_id
    operations = Counter((by_id[q.parent_span_id].attributes["url.path"], q.attributes["db.operation.name"])
                         for q in queries)
    assert operations[("/items/ghost/", "SELECT")] == 1
    assert operations[("/items/apple/", "SELECT")] == 1
    assert operations[("/items/apple/touch/", "UPDATE")] == 1
    if system == "postgresql":
        assert {q.attributes.get("server.address") for q in queries} == {"127.0.0.1"}
    measured: Counter[tuple[str, str]] = Counter()
    for point in receiver.latest_points("db.client.operation.duration"):
        assert point.attributes["db.system.name"] == system
        key = (point.attributes["db.operation.name"], point.attributes.get("db.collection.name", ""))
        measured[key] += point.count
    assert measured[("UPDATE", "shop_item")] == 1, "each query measured in db.client.operation.duration"
    assert measured[("SELECT", "shop_item")] >= 3
    assert output.count("Traceback") <= output.count("RuntimeError: the shop is on fire"), "the app's only"


MODES = [("run", False), ("run", True), ("init", False)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn", "daphne", "runserver", "runserver-autoreload"])
@pytest.mark.parametrize(("obs", "exported"), MODES, ids=["obs-run", "obs-run-settings-exported", "obs-init"])
def test_site_answers_as_without_obs_and_is_recorded(
    site: Path, receiver: OTLPReceiver, server: str, obs: str, exported: bool
) -> None:
    """Under each server, with obs started by ``obs run`` (settings module exported or not) or by
    ``obs.init()`` at the top of the entry module, the site answers every request with the status and body
    it gives without obs, and each request is one server span and one count in the RED metrics, each ORM
    query one database span (sqlite)."""
    served = _serve(site, server, obs=obs, env={}, receiver=receiver, settings_exported=exported)
    assert served.answers == _plain_answers(site, server), served.output[-3000:]
    assert [status for status, _ in served.answers] == [200, 404, 404, 500, 200, 200]
    _check_telemetry(receiver, served.output, "sqlite")


@pytest.fixture(scope="module")
def pg_site(site: Path, postgresql: PostgreSQL) -> dict[str, str]:
    """The site's environment for the PostgreSQL server, its tables made."""
    env = {"SHOP_PG_PORT": str(postgresql.port), "SHOP_PG_USER": postgresql.user,
           "SHOP_PG_NAME": postgresql.database}
    migrate(site, env)
    return env


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn", "daphne", "runserver"])
def test_site_on_postgresql_records_its_queries(
    site: Path, pg_site: dict[str, str], receiver: OTLPReceiver, server: str
) -> None:
    """On a real PostgreSQL server (Django's psycopg backend), under ``obs run``: the same answers as the
    plain site, and the ORM's queries as database spans naming the server."""
    served = _serve(site, server, obs="run", env=pg_site, receiver=receiver)
    assert served.answers == _plain_answers(site, server), served.output[-3000:]
    _check_telemetry(receiver, served.output, "postgresql")


@pytest.fixture(scope="module")
def mariadb_site(site: Path, mariadb: MariaDB) -> dict[str, str]:
    """The site's environment for the MariaDB server (Django's mysql backend, on mysqlclient), its tables
    made."""
    env = {"SHOP_MYSQL_PORT": str(mariadb.port), "SHOP_MYSQL_USER": mariadb.user,
           "SHOP_MYSQL_NAME": mariadb.database}
    migrate(site, env)
    return env


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_site_on_mariadb_records_its_queries(
    site: Path, mariadb_site: dict[str, str], receiver: OTLPReceiver, server: str
) -> None:
    """On a real MariaDB server (Django's mysql backend over mysqlclient), under ``obs run`` with gunicorn's
    two workers or uvicorn: the same answers as the plain site, and the ORM's queries as database spans of
    ``db.system.name = "mariadb"`` (a whole-site case that hung 2 times in 43 before the fork fixes)."""
    served = _serve(site, server, obs="run", env=mariadb_site, receiver=receiver)
    assert served.answers == _plain_answers(site, server), served.output[-3000:]
    _check_telemetry(receiver, served.output, "mariadb")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("middleware", ["obs", "contrib"])
def test_failed_request_is_kept_when_its_trace_is_not_sampled(
    site: Path, receiver: OTLPReceiver, middleware: str
) -> None:
    """With a sampler that keeps no trace, the request that failed (500) is still exported as its server
    span, under the trace id its log line carries; the 404s are not failures and stay unsampled; the RED
    metrics count every request. The same with obs's recorders and with the contrib instrumentation."""
    env = {"OTEL_TRACES_SAMPLER": "parentbased_always_off", "OBS_SERVER_MIDDLEWARE": middleware}
    served = _serve(site, "gunicorn", obs="run", receiver=receiver, spans=1, env=env)
    assert served.answers == _plain_answers(site, "gunicorn"), served.output[-3000:]
    receiver.wait_for(lambda: any(log.body == "about to fail" for log in receiver.logs()))
    assert _counted(receiver) >= len(PATHS) + 1  # (the readiness probe may have asked more than once)
    (kept,) = receiver.spans()
    assert kept.kind == SERVER and kept.attributes["http.route"] == "boom/" and kept.status_code == ERROR
    assert kept.attributes["http.response.status_code"] == 500
    (logged,) = [log for log in receiver.logs() if log.body == "about to fail"]
    assert logged.trace_id == kept.trace_id
    receiver.wait_for(lambda: bool(receiver.latest_points("db.client.operation.duration")))
    updates = [point for point in receiver.latest_points("db.client.operation.duration")
               if point.attributes["db.operation.name"] == "UPDATE"]
    assert sum(point.count for point in updates) == 1, "unsampled requests' queries are measured"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_contrib_instrumentation_waits_for_the_settings(
    site: Path, receiver: OTLPReceiver, server: str
) -> None:
    """With ``server_middleware = "contrib"`` and the settings module not exported, the contrib Django
    instrumentation is switched on once ``django.setup()`` has run (not at ``import django``, where it would
    configure empty settings): the site answers as without obs, each request is a server span with Django's
    route, a 404 (``Http404`` included) is not an error, the 500 is, and the RED metrics count them all."""
    served = _serve(site, server, obs="run", receiver=receiver, env={"OBS_SERVER_MIDDLEWARE": "contrib"})
    assert served.answers == _plain_answers(site, server), served.output[-3000:]
    servers = _servers(receiver)
    assert {span.scope for span in servers} == {"opentelemetry.instrumentation.django"}
    by_path = {span.attributes.get("url.path"): span for span in servers}
    assert by_path["/items/ghost/"].attributes["http.route"] == "items/<str:name>/"
    assert by_path["/items/ghost/"].status_code == UNSET
    assert by_path["/nope/"].status_code == UNSET
    assert by_path["/boom/"].status_code == ERROR
    assert _counted(receiver) == len(servers)


def test_plain_site_answers_json(site: Path) -> None:
    """The generated site is a working Django site without obs: its ORM write and read answer JSON."""
    answers = _plain_answers(site, "gunicorn")
    assert json.loads(answers[-1][1]) == {"name": "apple"}


@pytest.mark.timeout(60)
def test_a_failed_query_is_an_error_span_without_its_values(site: Path, receiver: OTLPReceiver) -> None:
    """ORM queries outside any request (a management command under ``obs run``) are spans too; a query the
    database refuses is an error span naming the exception type, with the statement's placeholders and
    neither its parameter values nor the driver's message (which may quote them)."""
    code = ("from django.db import connection\n"
            "from shop.models import Item\n"
            "Item.objects.filter(name='secret-value').count()\n"
            "try:\n"
            "    with connection.cursor() as cursor:\n"
            "        cursor.execute('SELECT nope FROM shop_item WHERE name = %s', ['secret-value'])\n"
            "except Exception as error:\n"
            "    print('refused:', type(error).__name__)\n")
    env = clean_environment({"PYTHONPATH": str(site), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([OBS, "run", "--", sys.executable, "manage.py", "shell", "-c", code], cwd=site,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: OperationalError" in done.stdout
    receiver.wait_for(lambda: len(receiver.spans()) >= 2)
    by_operation = {span.attributes["db.query.text"]: span for span in receiver.spans()}
    counted = next(span for text, span in by_operation.items() if "COUNT" in text)
    assert counted.status_code == UNSET and counted.attributes["db.collection.name"] == "shop_item"
    refused = by_operation["SELECT nope FROM shop_item WHERE name = %s"]
    assert refused.status_code == ERROR
    assert refused.attributes["error.type"] == "django.db.utils.OperationalError"
    assert refused.name == "SELECT shop_item"
    assert "secret-value" not in repr([span.attributes for span in receiver.spans()])
    assert "no such column" not in repr([(span.status_message, span.events) for span in receiver.spans()])
