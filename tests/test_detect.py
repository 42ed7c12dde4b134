"""Detection for `obs init`: declared dependencies and imports -> OpenTelemetry instrumentations."""

from __future__ import annotations

import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from obs.detect import INSTRUMENTATION_PACKAGES, LIBRARIES, Detection, Finding, detect, open_project
from obs.detect._declared import from_requirements
from obs.detect._libraries import by_module
from tests.init_helpers import FIXTURES, copy_fixture

EXPECTED = {
    "flask_shop": ("flask", "requests", "sqlalchemy"),
    "fastapi_poetry": ("fastapi", "psycopg2", "redis"),
    "django_setuppy": ("celery", "django", "redis"),  # psycopg2 under Django's ORM: traced by django
    "aiohttp_compiled": ("aiohttp-client", "aiohttp-server", "asyncpg", "botocore"),
}


def _detect(root: Path) -> Detection:
    return detect(open_project(root))


def _finding(detection: Detection, key: str) -> Finding:
    return next(finding for finding in detection.findings if finding.library.key == key)


def _line_of(path: Path, needle: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fixture_gets_exactly_its_instrumentations(fixture: str, tmp_path: Path) -> None:
    """Each realistic fixture project maps to exactly the instrumentations its runtime code needs."""
    detection = _detect(copy_fixture(fixture, tmp_path))
    assert detection.instrumentations == EXPECTED[fixture]


@pytest.mark.parametrize("fixture", ["aiohttp_compiled", "fastapi_poetry", "flask_shop"])
def test_no_tortoiseorm_for_pydantic(fixture: str, tmp_path: Path) -> None:
    """pydantic (used by these fixtures) never brings tortoiseorm, unlike opentelemetry-bootstrap."""
    root = copy_fixture(fixture, tmp_path)
    sources = [*root.glob("*.toml"), *root.glob("*.txt"), *root.glob("*.in"), *root.rglob("*.py")]
    assert any("pydantic" in path.read_text() for path in sources)
    assert "tortoiseorm" not in _detect(root).instrumentations


def test_flask_evidence_names_file_and_line(tmp_path: Path) -> None:
    """Each choice carries the declaring line and the importing line, as found in the files."""
    root = copy_fixture("flask_shop", tmp_path)
    detection = _detect(root)
    flask = _finding(detection, "flask")
    assert [(d.path, d.line, d.text) for d in flask.declared] == [
        ("pyproject.toml", _line_of(root / "pyproject.toml", '"flask>=3.0"'), "flask>=3.0")
    ]
    imported = flask.imported[0]
    assert imported.path == "src/shop/__init__.py"
    assert imported.line == _line_of(root / imported.path, "from flask import")
    sqlalchemy = _finding(detection, "sqlalchemy")
    assert [d.name for d in sqlalchemy.declared] == ["flask-sqlalchemy"]


def test_flask_development_and_type_only_dependencies_left_out(tmp_path: Path) -> None:
    """httpx is only a dev extra (and imported only by tests/); redis only under TYPE_CHECKING."""
    detection = _detect(copy_fixture("flask_shop", tmp_path))
    httpx = _finding(detection, "httpx")
    assert httpx.status == "development only"
    assert httpx.imported == ()
    assert all(finding.library.key != "redis" for finding in detection.findings)
    assert _finding(detection, "gunicorn").status == "nothing to instrument"


def test_poetry_sqlalchemy_is_served_by_its_driver_and_starlette_is_covered(tmp_path: Path) -> None:
    """SQLAlchemy over the declared Postgres driver, and Starlette under FastAPI, would double spans: the
    driver is instrumented (one span per query, engines made at import included), SQLAlchemy and Starlette are
    covered."""
    detection = _detect(copy_fixture("fastapi_poetry", tmp_path))
    assert _finding(detection, "psycopg2").status == "instrumented"
    sqlalchemy = _finding(detection, "sqlalchemy")
    assert sqlalchemy.status == "covered" and "psycopg2" in sqlalchemy.reason
    assert _finding(detection, "starlette").status == "covered"
    assert _finding(detection, "requests").status == "development only"
    assert _finding(detection, "httpx").status == "development only"


@pytest.mark.parametrize(("declared", "module", "driver"), [
    ("psycopg2-binary", "psycopg2", "psycopg2"),
    ("PyMySQL", "pymysql", "pymysql"),
    ("mysqlclient", "MySQLdb", "mysqlclient"),  # its module is not named after the distribution
])
def test_sqlalchemy_with_a_declared_driver_is_traced_at_the_driver(
    tmp_path: Path, declared: str, module: str, driver: str
) -> None:
    """SQLAlchemy imported next to its declared driver: the driver's instrumentation alone (no doubles),
    the driver found both in the requirements and in the imports."""
    root = _write(tmp_path, {
        "requirements.txt": f"sqlalchemy\n{declared}\n",
        "app.py": f"import {module}\nimport sqlalchemy\n",
    })
    detection = _detect(root)
    assert detection.instrumentations == (driver,)
    found = _finding(detection, driver)
    assert found.status == "instrumented" and found.declared and found.imported
    assert _finding(detection, "sqlalchemy").status == "covered"


def test_sqlalchemy_without_a_known_driver_keeps_its_own_instrumentation(tmp_path: Path) -> None:
    """No driver declared, imported or named in a URL: SQLAlchemy's instrumentation is chosen (the agent
    serves it through whatever driver instrumentation is installed)."""
    root = _write(tmp_path, {"requirements.txt": "sqlalchemy\n", "app.py": "import sqlalchemy\n"})
    assert _detect(root).instrumentations == ("sqlalchemy",)


def test_database_url_in_a_dotenv_file_picks_the_driver_without_printing_the_password(tmp_path: Path) -> None:
    """``DATABASE_URL=postgresql+psycopg://user:pw@...`` in .env turns on psycopg (the driver it names), with
    the file and line as the reason; the evidence keeps the scheme only."""
    root = _write(tmp_path, {
        "requirements.txt": "flask\nsqlalchemy\n",
        "app.py": "import flask\nimport sqlalchemy\n",
        ".env": "DEBUG=1\nDATABASE_URL=postgresql+psycopg://shop:hunter2@db:5432/shop\n",
    })
    detection = _detect(root)
    assert detection.instrumentations == ("flask", "psycopg")
    psycopg = _finding(detection, "psycopg")
    assert [(item.path, item.line, item.variable, item.scheme) for item in psycopg.mentioned] == [
        (".env", 2, "DATABASE_URL", "postgresql+psycopg")
    ]
    assert "hunter2" not in repr(psycopg) and "hunter2" not in psycopg.mentioned[0].describe()
    assert _finding(detection, "sqlalchemy").status == "covered"


def test_broker_url_is_celery_evidence_and_does_not_turn_on_redis(tmp_path: Path) -> None:
    """``CELERY_BROKER_URL = "redis://..."`` in a settings module is the broker: Celery's evidence, not a
    reason to trace the worker's polling of Redis; a Redis URL for the app's cache is."""
    root = _write(tmp_path, {
        "requirements.txt": "celery\n",
        "proj/settings.py": 'import os\nCELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://q:6379/0")\n',
        "proj/tasks.py": "from celery import Celery\napp = Celery('proj')\n",
    })
    detection = _detect(root)
    assert detection.instrumentations == ("celery",)
    assert [item.variable for item in _finding(detection, "celery").mentioned] == ["CELERY_BROKER_URL"]
    (root / ".env").write_text("REDIS_URL=redis://cache:6379/1\n")
    assert _detect(root).instrumentations == ("celery", "redis")


@pytest.mark.parametrize(("url", "instrumentation"), [
    ("postgresql+asyncpg://h/db", "asyncpg"),
    ("postgresql+psycopg2://h/db", "psycopg2"),
    ("postgres://h/db", "psycopg2"),
    ("mysql+pymysql://h/db", "pymysql"),
    ("mysql://h/db", "mysqlclient"),
    ("mariadb+pymysql://h/db", "pymysql"),
])
def test_each_url_scheme_names_its_driver(url: str, instrumentation: str, tmp_path: Path) -> None:
    """The driver in the URL decides the instrumentation (SQLAlchemy's defaults when the URL names none)."""
    root = _write(tmp_path, {"requirements.txt": "sqlalchemy\n", "app.py": f"URL = {url!r}\n"})
    assert instrumentation in _detect(root).instrumentations


def test_pip_compile_transitive_lines_are_not_the_projects(tmp_path: Path) -> None:
    """`# via botocore` marks urllib3 as transitive: no urllib3 instrumentation, but boto3 counts."""
    root = copy_fixture("aiohttp_compiled", tmp_path)
    assert "urllib3==2.0.7" in (root / "requirements.txt").read_text()
    detection = _detect(root)
    assert all(finding.library.key != "urllib3" for finding in detection.findings)
    assert [d.text for d in _finding(detection, "boto3").declared] == ["boto3==1.34.69"]


def test_requirements_includes_options_and_urls(tmp_path: Path) -> None:
    """-r includes (once each), -e #egg=, URLs, hashes on continuation lines and comments are all read."""
    root = _write(tmp_path, {
        "requirements.txt": """\
            # web
            -r requirements/base.txt
            --index-url https://packages.example.invalid/simple
            -e git+https://git.example.invalid/team/celery-fork.git#egg=celery
            https://files.example.invalid/some.whl
            redis==5.0.3 \\
                --hash=sha256:0000
            Flask_SQLAlchemy[async]>=3  # extras and odd spelling
            """,
        "requirements/base.txt": "-r ../requirements.txt\nrequests>=2\n",
        "requirements-test.txt": "pytest\nhttpx\n",
    })
    found = from_requirements(root, root / "requirements.txt")
    assert [(d.name, d.line, d.origin) for d in found] == [
        ("requests", 2, "runtime"),
        ("celery", 4, "runtime"),
        ("redis", 6, "runtime"),
        ("flask-sqlalchemy", 8, "runtime"),
    ]
    assert [(d.name, d.origin) for d in from_requirements(root, root / "requirements-test.txt")] == [
        ("pytest", "development"),
        ("httpx", "development"),
    ]


def test_setup_py_is_read_never_run(tmp_path: Path) -> None:
    """setup.py is parsed with ast: a setup.py that would leave a mark when run leaves none."""
    root = _write(tmp_path, {
        "setup.py": """\
            from pathlib import Path
            from setuptools import setup

            Path("EXECUTED").write_text("setup.py ran")
            BASE = ["flask>=3"]
            setup(
                name="marker",
                install_requires=BASE + ["requests"],
                extras_require={"dev": ["httpx"], "cache": ["redis"]},
            )
            """,
    })
    detection = _detect(root)
    assert not (root / "EXECUTED").exists()
    assert detection.instrumentations == ("flask", "redis", "requests")
    assert _finding(detection, "httpx").status == "development only"
    assert open_project(root).name == "marker"


def test_setup_cfg_dependencies(tmp_path: Path) -> None:
    """setup.cfg's install_requires and extras are read with their line numbers."""
    root = _write(tmp_path, {
        "setup.cfg": """\
            [metadata]
            name = cfgapp

            [options]
            install_requires =
                pyramid>=2
                pymongo

            [options.extras_require]
            test = requests
            """,
    })
    detection = _detect(root)
    assert detection.instrumentations == ("pymongo", "pyramid")
    assert _finding(detection, "pymongo").declared[0].line == 7
    assert open_project(root).name == "cfgapp"


def test_imports_skip_local_modules_tests_venvs_and_broken_files(tmp_path: Path) -> None:
    """A local redis.py, tests/, a virtualenv and an unparsable file give no instrumentation."""
    root = _write(tmp_path, {
        "requirements.txt": "",
        "app.py": "import redis\nfrom . import helpers\nimport sqlite3\n",
        "redis.py": "CACHE = {}\n",
        "tests/test_app.py": "import requests\n",
        "test_smoke.py": "import httpx\n",
        "venv/pyvenv.cfg": "home = /usr/bin\n",
        "venv/lib/site.py": "import django\n",
        "broken.py": "def (:\n",
    })
    detection = _detect(root)
    assert detection.instrumentations == ("sqlite3",)
    assert detection.source.unreadable == ("broken.py",)


def test_generated_folder_is_not_read(tmp_path: Path) -> None:
    """The folder obs generates (with grafanalib sources) is excluded from the import scan."""
    root = _write(tmp_path, {"requirements.txt": "", "stack/dashboards/src/x.py": "import requests\n"})
    assert detect(open_project(root), frozenset({root / "stack"})).instrumentations == ()
    assert detect(open_project(root)).instrumentations == ("requests",)


def test_app_objects_found_for_next_steps(tmp_path: Path) -> None:
    """Flask/FastAPI/Celery objects and Django's wsgi module are found where the code defines them."""
    targets = {
        (app.framework, app.target) for app in _detect(copy_fixture("django_setuppy", tmp_path)).apps
    }
    assert ("django", "bookshop.wsgi:application") in targets
    assert ("celery", "bookshop.celery:app") in targets
    assert ("django", "manage.py") in targets
    fastapi = _detect(copy_fixture("fastapi_poetry", tmp_path)).apps
    assert [(app.framework, app.target) for app in fastapi] == [("fastapi", "inventory.main:app")]


def test_aiohttp_web_import_means_server_and_client() -> None:
    """`from aiohttp import web` is the aiohttp server (and the aiohttp client library)."""
    assert {lib.key for lib in by_module("aiohttp.web")} == {"aiohttp", "aiohttp.web"}
    assert {lib.key for lib in by_module("aiohttp")} == {"aiohttp"}


def test_every_package_exists_in_the_pinned_release() -> None:
    """Each instrumentation package obs may add is one the installed OpenTelemetry release publishes."""
    from opentelemetry.instrumentation import bootstrap_gen

    published = {
        entry["instrumentation"].split("==")[0].split(">=")[0]
        for entry in bootstrap_gen.libraries
    } | {name.split("==")[0] for name in bootstrap_gen.default_instrumentations}
    assert set(INSTRUMENTATION_PACKAGES.values()) <= published
    named = {name for library in LIBRARIES for name in library.instrumentations}
    assert named == set(INSTRUMENTATION_PACKAGES)


def test_entry_point_names_match_installed_packages() -> None:
    """For every instrumentation installed here, its entry point names map back to its own package."""
    checked = 0
    for entry_point in metadata.entry_points(group="opentelemetry_instrumentor"):
        if entry_point.name in INSTRUMENTATION_PACKAGES and entry_point.dist is not None:
            assert INSTRUMENTATION_PACKAGES[entry_point.name] == entry_point.dist.name
            checked += 1
    assert checked >= 5


def test_fixtures_are_untouched_by_detection() -> None:
    """Detection reads only: running it on the originals leaves them byte-identical."""
    before = {p: p.read_bytes() for p in FIXTURES.rglob("*") if p.is_file()}
    for fixture in EXPECTED:
        detect(open_project(FIXTURES / fixture))
    assert {p: p.read_bytes() for p in FIXTURES.rglob("*") if p.is_file()} == before


_DJANGO_SETTINGS = '''
    raise SystemExit("a settings module is read, never run")
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.%s", "NAME": "shop"},
    }
'''


@pytest.mark.parametrize(("engine", "requirements", "driver"), [
    ("sqlite3", "django\n", "sqlite3"),
    ("postgresql", "django\npsycopg[binary]\n", "psycopg"),
    ("postgresql", "django\npsycopg2-binary\n", "psycopg2"),
    ("mysql", "django\nmysqlclient\n", "mysqlclient"),
])
def test_django_database_engine_is_found_in_settings_without_running_them(
    tmp_path: Path, engine: str, requirements: str, driver: str
) -> None:
    """The DATABASES engine in a Django settings module (read with ast, never run) names the database
    driver, with the file and line as evidence; the ORM's queries being traced by the django
    instrumentation, the driver's own stays off (no span twice): exactly ``django`` is turned on."""
    root = _write(tmp_path, {
        "requirements.txt": requirements,
        "mysite/__init__.py": "",
        "mysite/settings.py": _DJANGO_SETTINGS % engine,
        "mysite/wsgi.py": "from django.core.wsgi import get_wsgi_application\n",
    })
    detection = _detect(root)
    assert detection.instrumentations == ("django",)
    found = _finding(detection, driver)
    assert found.status == "covered"
    assert "Django's ORM" in found.reason
    (evidence,) = [item for item in found.declared if item.section == "Django DATABASES"]
    assert evidence.text == f"ENGINE django.db.backends.{engine}"
    assert evidence.where() == f"mysite/settings.py:{_line_of(root / 'mysite/settings.py', 'ENGINE')}"


def test_django_project_calling_its_driver_directly_keeps_the_driver_instrumentation(tmp_path: Path) -> None:
    """A Django project whose code also runs raw queries through the driver gets that driver's
    instrumentation next to django's."""
    root = _write(tmp_path, {
        "requirements.txt": "django\n",
        "mysite/settings.py": _DJANGO_SETTINGS % "sqlite3",
        "mysite/report.py": "import sqlite3\nimport django\n",
    })
    assert _detect(root).instrumentations == ("django", "sqlite3")
