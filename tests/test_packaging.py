"""The wheel a host installs: the jobs_admin package with its data, nothing of the repository's.

``make test`` builds the sdist and the wheel (``python -m build``), runs ``twine check`` on them
and passes the wheel here as ``JOBS_ADMIN_WHEEL``; without it the test builds one itself.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Files the package needs at run time besides its modules.
PACKAGE_DATA = {
    "jobs_admin/py.typed",
    "jobs_admin/templates/jobs_admin/list.html",
    "jobs_admin/templates/jobs_admin/details.html",
    "jobs_admin/templates/jobs_admin/new.html",
    "jobs_admin/templates/jobs_admin/setup.html",
    "jobs_admin/templates/jobs_admin/_macros.html",
    "jobs_admin/static/jobs_admin/jobs_admin.js",
    "jobs_admin/static/jobs_admin/jobs_admin_live.js",
    "jobs_admin/static/jobs_admin/jobs_admin_toast.js",
    "jobs_admin/static/jobs_admin/jobs_admin.css",
    "jobs_admin/static/jobs_admin/vendor/uplot/uPlot.iife.min.js",
    "jobs_admin/static/jobs_admin/vendor/uplot/LICENSE",
    "jobs_admin/migrations/__init__.py",
    "jobs_admin/migrations/versions/jobs_admin_0001_jobs_tables.py",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``make test`` built, or one built now from the working tree."""
    given = os.environ.get("JOBS_ADMIN_WHEEL")
    if given:
        return Path(given)
    if importlib.util.find_spec("build") is None:
        if os.environ.get("JOBS_ADMIN_REQUIRE_ALL"):
            pytest.fail("the 'build' package is missing: pip install -e '.[dev]'")
        pytest.skip("the 'build' package is not installed")
    out = tmp_path_factory.mktemp("dist")
    # The wheel from the sdist, as ``make test`` builds it: a wheel built from the tree itself
    # would also pack whatever an earlier build left in build/lib.
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("*.whl")
    return found


@pytest.mark.slow
def test_packaging_wheel_holds_the_package_and_its_data_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(whl.read(metadata).decode())
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"jobs_admin", metadata.split("/", 1)[0]}, tops
    assert names >= PACKAGE_DATA, PACKAGE_DATA - names
    # Every module and every migration of the tree is in it.
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "jobs_admin").rglob("*.py")}
    assert modules <= names, modules - names

    requires = meta.get_all("Requires-Dist") or []
    required = {
        r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].strip().lower()
        for r in requires
        if "extra ==" not in r
    }
    # Flask-Login is optional (the ``login`` extra), and the migrations tooling too.
    assert "flask-login" not in required and "flask-migrate" not in required
    assert {"flask", "flask-admin", "sqlalchemy", "apscheduler", "wtforms"} <= required
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"postgres", "login", "migrate", "demo", "dev"} <= extras
