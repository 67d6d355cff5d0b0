"""The ``jobs-admin-config`` directive: a table of every ``JOBS_ADMIN_*`` key from config.py.

Each key's description is its ``#:`` comment and its default the module's value, so the
reference cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

MODULE = "jobs_admin.config"


def _cell(text: str) -> str:
    return " ".join(text.split())


class ConfigTable(SphinxDirective):
    """Render every documented constant of :mod:`jobs_admin.config` as a list-table row."""

    def run(self) -> list[nodes.Node]:
        import importlib

        module = importlib.import_module(MODULE)
        docs = ModuleAnalyzer.for_module(MODULE).find_attr_docs()
        rows: list[str] = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 30 20 50",
            "",
            "   * - Key",
            "     - Default",
            "     - What it does",
        ]
        count = 0
        for (scope, name), lines in docs.items():
            if scope or not name.isupper() or name.startswith("_"):
                continue
            default = repr(getattr(module, name))
            rows += [
                f"   * - ``JOBS_ADMIN_{name}``",
                f"     - ``{default}``",
                f"     - {_cell(' '.join(lines))}",
            ]
            count += 1
        if not count:
            raise self.error(f"no documented keys found in {MODULE}")
        container = nodes.container()
        self.state.nested_parse(StringList(rows, source=MODULE), self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("jobs-admin-config", ConfigTable)
    return {"parallel_read_safe": True, "version": "1"}
