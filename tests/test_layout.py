"""The package's layering and module sizes, as README's "Layout" promises them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jobs_admin"

#: Modules above the service layer: the facade itself, the package's re-exports, and the
#: packages of views (the admin views, the job panel on host pages), which use the facade's
#: public API as a host does.
ABOVE_SERVICE = {"extension.py", "__init__.py"}
VIEW_PACKAGES = {"admin", "panel"}

#: Most lines a module may have (README: "No module is over ~400 lines").
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _lower(path: Path) -> bool:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] not in VIEW_PACKAGES and str(rel) not in ABOVE_SERVICE


def test_layout_no_lower_module_imports_the_facade() -> None:
    offenders = []
    for path in filter(_lower, _modules()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("extension"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and any(a.name == "JobsAdmin" for a in node.names):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_layout_no_module_calls_a_private_method_of_the_extension() -> None:
    # ``jobs._x`` or ``self.jobs._x`` anywhere but in the facade's own modules.
    offenders = []
    for path in _modules():
        if path.name in {"extension.py", "_api.py"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
                continue
            if node.attr.startswith("__"):
                continue
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name in {"jobs", "ext", "extension"}:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_layout_every_module_is_under_the_line_limit() -> None:
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
        for p in _modules()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
