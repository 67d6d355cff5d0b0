"""Sphinx configuration of the jobs_admin documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

project = "jobs_admin"
author = "the jobs_admin developers"
copyright = "2026, the jobs_admin developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "myst_parser",
    "jobs_admin_config",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Files under docs/ that are not pages: deploy samples, screenshot scripts, the built site.
exclude_patterns = ["_build", "deploy", "screenshots/*.py", "Thumbs.db", ".DS_Store"]

# The guides are Markdown (they began as README sections); "#anchor" links reach headings.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", None),
    "flask": ("https://flask.palletsprojects.com/en/stable/", None),
}
# The build must not need the network (CI builds it with warnings as errors): intersphinx
# inventories are fetched only when JOBS_ADMIN_DOCS_ONLINE is set.
if not __import__("os").environ.get("JOBS_ADMIN_DOCS_ONLINE"):
    intersphinx_mapping = {}

html_theme = "furo"
html_title = "jobs_admin"
html_static_path: list[str] = []
nitpicky = False


def _html_anchors_to_targets(app: object, docname: str, source: list[str]) -> None:
    # bench/explain_pg.py writes GitHub-style ``<a id="qN"></a>`` anchors; MyST links reach
    # only its own ``(qN)=`` targets, so the page keeps both renderings working.
    import re

    source[0] = re.sub(r'^<a id="([\w-]+)"></a>$', r"(\1)=", source[0], flags=re.M)


def setup(app: object) -> None:
    app.connect("source-read", _html_anchors_to_targets)  # type: ignore[attr-defined]
