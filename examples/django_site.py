"""The Django example, made the way a Django user makes a site: ``django-admin startproject mysite`` and
``manage.py startapp shop``, then a model, a few views and a migration added by hand.

``python -m examples.django_site DIR`` makes one in ``DIR`` (examples/django_app is one, kept in the
repository for the benchmarks); the tests make theirs in a temporary folder the same way. Nothing in the
generated files knows about obs: ``wsgi.py``, ``asgi.py`` and ``manage.py`` are Django's own.

Routes: ``/`` (plain text), ``/items/<name>/`` (an ORM read: ``pear`` is there from the start; 404 from
``Http404`` when the item is not there), ``/items/<name>/touch/`` (an ORM write, idempotent), ``/boom/``
(an unhandled exception: 500).
With ``SHOP_PG_PORT`` set, the site uses PostgreSQL on 127.0.0.1 (``SHOP_PG_USER``, ``SHOP_PG_NAME``), with
``SHOP_MYSQL_PORT`` MySQL or MariaDB (``SHOP_MYSQL_USER``, ``SHOP_MYSQL_NAME``; Django's mysql backend),
instead of its sqlite file (``SHOP_SQLITE``, default ``db.sqlite3`` in the project).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

__all__ = ["PROJECT", "make_site", "migrate"]

PROJECT: Final = "mysite"
APP: Final = "shop"

MODELS: Final = '''from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100, unique=True)
    touched = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.name
'''

VIEWS: Final = '''import logging

from django.db.models import F
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404

from .models import Item

log = logging.getLogger(__name__)


def home(request):
    return HttpResponse("ok\\n", content_type="text/plain")


def item(request, name):
    found = get_object_or_404(Item, name=name)
    return JsonResponse({"name": found.name})


def touch(request, name):
    found, created = Item.objects.get_or_create(name=name)
    Item.objects.filter(pk=found.pk).update(touched=F("touched") + 1)
    return JsonResponse({"name": found.name})


def boom(request):
    log.warning("about to fail")
    raise RuntimeError("the shop is on fire")
'''

APP_URLS: Final = '''from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("items/<str:name>/", views.item),
    path("items/<str:name>/touch/", views.touch),
    path("boom/", views.boom),
]
'''

SEED: Final = '''from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("shop", "Item").objects.get_or_create(name="pear")


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
'''
"""A data migration: the item ``pear`` is there from the start (the benchmark reads it)."""

SETTINGS_TAIL: Final = '''

# Added for the example: no debug pages (stable answers), any host, the shop app, a server database on demand.
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS.append("shop")
DATABASES["default"]["NAME"] = os.environ.get("SHOP_SQLITE") or BASE_DIR / "db.sqlite3"
for prefix, backend in (("SHOP_PG", "postgresql"), ("SHOP_MYSQL", "mysql")):
    if os.environ.get(f"{prefix}_PORT"):
        DATABASES = {
            "default": {
                "ENGINE": f"django.db.backends.{backend}",
                "NAME": os.environ.get(f"{prefix}_NAME", "shop"),
                "USER": os.environ.get(f"{prefix}_USER", "shop"),
                "HOST": "127.0.0.1",
                "PORT": os.environ[f"{prefix}_PORT"],
            }
        }
        break
'''


def _django_admin() -> list[str]:
    return [sys.executable, "-m", "django"]


def make_site(folder: Path, env: dict[str, str] | None = None) -> Path:
    """A new site in ``folder`` (created), migrated on its sqlite file; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    run_env = {**os.environ, **(env or {})}
    run_env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([*_django_admin(), "startproject", PROJECT, str(folder)], check=True, env=run_env)
    subprocess.run([sys.executable, "manage.py", "startapp", APP], cwd=folder, check=True, env=run_env)
    app = folder / APP
    (app / "models.py").write_text(MODELS)
    (app / "views.py").write_text(VIEWS)
    (app / "urls.py").write_text(APP_URLS)
    settings = folder / PROJECT / "settings.py"
    text = settings.read_text()
    key = 'SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example")'
    text = re.sub(r"^SECRET_KEY = .*$", key, text, count=1, flags=re.M)  # no generated key in a repository
    settings.write_text("import os\n" + text + SETTINGS_TAIL)
    urls = folder / PROJECT / "urls.py"
    text = urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
    urls.write_text(text.replace("urlpatterns = [", 'urlpatterns = [\n    path("", include("shop.urls")),'))
    subprocess.run([sys.executable, "manage.py", "makemigrations", APP, "-v", "0"], cwd=folder, check=True,
                   env=run_env)
    (app / "migrations" / "0002_seed.py").write_text(SEED)
    migrate(folder, run_env)
    return folder


def migrate(folder: Path, env: dict[str, str] | None = None) -> None:
    """Create the site's tables in the database its environment names."""
    run_env = {**os.environ, **(env or {})}
    run_env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=folder, check=True, env=run_env)


if __name__ == "__main__":
    make_site(Path(sys.argv[1]))
