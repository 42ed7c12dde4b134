"""An instrumentation that cannot be installed is never the app's failure: the app runs without it, and one
line says which and why.

The instrumentation here is a real one, installed the way pip installs them (a distribution with an
``opentelemetry_instrumentor`` entry point and ``instruments`` requirements, on the app's path), for a real
library module; what varies is the library's installed version and whether ``instrument()`` raises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent_run import PYTHON, ROOT, clean_environment, obs_run, python

APP = """
import logging
import shaky

logging.basicConfig(level=logging.INFO)
logging.getLogger("app").info("computed %s", shaky.compute(21))
print("answer", shaky.compute(21))
"""

INSTRUMENTOR = """
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


class ShakyInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ("shaky >= 1.0",)

    def _instrument(self, **kwargs):
        if {raises}:
            raise RuntimeError("shaky.compute moved in this release")

    def _uninstrument(self, **kwargs):
        return None
"""


def _install(site: Path, *, library_version: str, raises: bool) -> None:
    """The library ``shaky`` at ``library_version`` and its instrumentation, as pip would lay them out."""
    (site / "shaky").mkdir(parents=True)
    (site / "shaky" / "__init__.py").write_text("def compute(x):\n    return 2 * x\n")
    library = site / f"shaky-{library_version}.dist-info"
    library.mkdir()
    (library / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shaky\nVersion: {library_version}\n")
    package = site / "opentelemetry_instrumentation_shaky"
    package.mkdir()
    (package / "__init__.py").write_text(INSTRUMENTOR.format(raises=raises))
    dist = site / "opentelemetry_instrumentation_shaky-0.66b1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: opentelemetry-instrumentation-shaky\nVersion: 0.66b1\n"
        'Provides-Extra: instruments\nRequires-Dist: shaky >= 1.0 ; extra == "instruments"\n'
    )
    (dist / "entry_points.txt").write_text(
        "[opentelemetry_instrumentor]\nshaky = opentelemetry_instrumentation_shaky:ShakyInstrumentor\n"
    )


@pytest.mark.parametrize(
    ("library_version", "raises", "why"),
    [
        ("1.2", True, "RuntimeError: shaky.compute moved in this release"),
        ("0.5", False, "it supports shaky>=1.0, installed: shaky 0.5"),
    ],
    ids=["instrument-raises", "unsupported-version"],
)
def test_an_instrumentation_that_cannot_install_is_named_once_and_the_app_runs(
    tmp_path: Path, library_version: str, raises: bool, why: str
) -> None:
    """Under obs run the app prints and logs exactly what it does without obs and exits 0, whether the
    instrumentation's ``instrument()`` raises or the installed library is older than it supports; obs says
    so in one line naming the instrumentation and the reason, and nothing else of obs's fails."""
    site = tmp_path / "site"
    _install(site, library_version=library_version, raises=raises)
    (tmp_path / "app.py").write_text(APP)
    env = clean_environment({"PYTHONPATH": f"{site}:{ROOT}", "OTEL_TRACES_EXPORTER": "none",
                             "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
    plain = python(APP, env, tmp_path, under_obs=False)
    observed = obs_run([PYTHON, "app.py"], env, tmp_path)
    assert plain.returncode == observed.returncode == 0, observed.stderr
    assert observed.stdout == plain.stdout == "answer 42\n"
    app_lines = [line for line in observed.stderr.splitlines() if not line.startswith("obs:")]
    assert app_lines == plain.stderr.splitlines() == ["INFO:app:computed 42"]
    lines = observed.obs_lines()
    assert len(lines) == 1, lines
    assert "shaky instrumentation" in lines[0] and why in lines[0], lines[0]
    assert "Traceback" not in observed.stderr
