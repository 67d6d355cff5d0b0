"""Helpers for a host's Alembic ``env.py``; :mod:`jobs_admin.migrations` exports them.

They keep ``flask db check`` / ``flask db migrate`` exact on every engine and keep new host
revisions out of the installed package:

* :func:`compare_type` compares what a column *is* on the database at hand: the implementation
  of a ``TypeDecorator`` (jobs_admin's ``UTCDateTime``) and the variant of a
  ``with_variant`` type (``JSON`` that is ``JSONB`` on PostgreSQL).
* :func:`include_object` leaves out of the comparison what the database at hand never gets
  (an ``Index(...).ddl_if(dialect="postgresql")`` on SQLite) and compares, on engines where
  Alembic cannot (SQLite), an index whose columns carry ``DESC``: by columns, uniqueness and
  partial-index ``WHERE`` clause, since SQLite does not report the sort order.
* :func:`process_revision_directives` never files a host's new revision inside the installed
  package (where Alembic would put the first one that follows a jobs_admin revision).

:func:`configure_args` puts the three into the arguments of ``context.configure``, chained after
the host's own hooks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ClauseElement, TextClause, UnaryExpression

from .models import SEARCH_TABLE

log = logging.getLogger("jobs_admin")

#: The folder of the package's own revisions.
VERSIONS_DIR = (Path(__file__).resolve().parent / "migrations" / "versions").resolve()

#: Engines whose Alembic implementation compares index expressions (and so sort orders) itself.
EXPRESSION_AWARE_DIALECTS = frozenset({"postgresql"})

_SORT_MODIFIERS = (operators.desc_op, operators.asc_op)


def configure_args(args: Mapping[str, Any] | None = None, *, dialect: Dialect) -> dict[str, Any]:
    """Return ``context.configure`` keyword arguments with jobs_admin's hooks added.

    A hook the host already set keeps working: ``include_object`` must accept an object for it to
    be compared; the host's ``process_revision_directives`` runs first, then jobs_admin's; a
    ``compare_type`` callable of the host's answers first and jobs_admin's only when it returns
    ``None``; ``compare_type=False`` stays off.

    :param args: the host's arguments (in Flask-Migrate's ``env.py``:
        ``current_app.extensions["migrate"].configure_args``).
    :param dialect: the dialect of the connection the migrations run on.
    """
    out = dict(args or {})

    own_compare = out.get("compare_type", True)
    if own_compare is True:
        out["compare_type"] = compare_type
    elif callable(own_compare):
        out["compare_type"] = _chain_compare_type(own_compare)

    include = include_object(dialect)
    own_include = out.get("include_object")
    if own_include is None:
        out["include_object"] = include
    else:
        out["include_object"] = lambda *a: bool(own_include(*a)) and include(*a)

    own_prd = out.get("process_revision_directives")
    if own_prd is None:
        out["process_revision_directives"] = process_revision_directives
    else:

        def chained(context: Any, revision: Any, directives: list[Any]) -> None:
            own_prd(context, revision, directives)
            process_revision_directives(context, revision, directives)

        out["process_revision_directives"] = chained
    _quiet_alembic_expression_index_warning()
    return out


# -- column types --------------------------------------------------------------------------


def compare_type(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Alembic ``compare_type`` hook: compare the type a column has on this database.

    Returns ``None`` (Alembic's own comparison) for plain types; for a ``TypeDecorator`` or a
    type with variants, Alembic's comparison of the database's type with the type the metadata
    resolves to on this dialect.
    """
    dialect = context.dialect
    resolved = resolve_type(metadata_type, dialect)
    if resolved is metadata_type:
        return None
    column = sa.Column(metadata_column.name, resolved, nullable=metadata_column.nullable)
    return bool(context.impl.compare_type(inspected_column, column))


def resolve_type(type_: Any, dialect: Dialect) -> Any:
    r"""The type ``type_`` is on ``dialect``: its variant chosen, ``TypeDecorator``\s unwrapped."""
    for _ in range(10):  # a decorator of a variant of a decorator...: a few levels at most
        variants = getattr(type_, "_variant_mapping", None) or {}
        if dialect.name in variants:
            type_ = variants[dialect.name]
        elif isinstance(type_, sa.TypeDecorator):
            type_ = type_.load_dialect_impl(dialect)
        else:
            break
    return type_


def _chain_compare_type(own: Callable[..., bool | None]) -> Callable[..., bool | None]:
    def chained(*args: Any) -> bool | None:
        answer = own(*args)
        return compare_type(*args) if answer is None else answer

    return chained


# -- which objects to compare ----------------------------------------------------------------


def include_object(dialect: Dialect) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Return an Alembic ``include_object`` hook for ``dialect`` (see the module's docstring)."""

    def hook(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and reflected and name and name.startswith(SEARCH_TABLE):
            # SQLite's FTS5 search index and its shadow tables: made by DDL events, not tables
            # of the metadata.
            return False
        if reflected or type_ not in ("index", "unique_constraint"):
            return True
        if not created_on(obj, dialect):
            return False
        if (
            type_ == "index"
            and compare_to is not None
            and dialect.name not in EXPRESSION_AWARE_DIALECTS
            and _sortable_columns(obj) is not None
        ):
            # Alembic reported a change; it compared names only, and saw none for "col DESC".
            return not same_index(obj, compare_to, dialect)
        return True

    return hook


def created_on(obj: Any, dialect: Dialect) -> bool:
    """Whether ``create_all`` creates ``obj`` (an index or a constraint) on ``dialect``."""
    ddl_if = getattr(obj, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    names = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else tuple(ddl_if.dialect)
    return dialect.name in names


def same_index(metadata_index: Any, reflected_index: Any, dialect: Dialect) -> bool:
    """Whether two indexes agree in what ``dialect`` reflects: columns, uniqueness, ``WHERE``."""
    columns = _sortable_columns(metadata_index)
    if columns is None:
        return False
    reflected_columns = [getattr(e, "name", None) for e in reflected_index.expressions]
    if columns != reflected_columns:
        return False
    if bool(metadata_index.unique) != bool(reflected_index.unique):
        return False
    return _where(metadata_index, dialect) == _where(reflected_index, dialect)


def _sortable_columns(index: Any) -> list[str] | None:
    """The column names of an index made of plain, ``ASC`` or ``DESC`` columns, else ``None``."""
    names = []
    for expr in index.expressions:
        name = _column_name(expr)
        if name is None:
            return None
        names.append(name)
    return names


_NAME_SORT_RE = re.compile(r'^\s*"?(\w+)"?(?:\s+(?:asc|desc))?\s*$', re.IGNORECASE)


def _column_name(expr: Any) -> str | None:
    """``col``, ``col ASC``, ``col DESC`` (as a column, a name or text): ``col``; else ``None``."""
    if isinstance(expr, UnaryExpression) and expr.modifier in _SORT_MODIFIERS:
        expr = expr.element
    if isinstance(expr, sa.ColumnClause):  # a Column, or sa.column("name")
        return str(expr.name)
    if isinstance(expr, TextClause):
        match = _NAME_SORT_RE.match(expr.text)
        return match.group(1) if match else None
    # sa.desc("name") keeps the name as a textual reference to a column
    text = getattr(expr, "element", None)
    if isinstance(text, str) and type(expr).__name__ == "_textual_label_reference":
        return text
    return None


def _where(index: Any, dialect: Dialect) -> str:
    clause = index.dialect_options[dialect.name].get("where") if dialect.name else None
    if clause is None:
        return ""
    if isinstance(clause, ClauseElement):
        clause = str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return normalize_sql(str(clause))


def normalize_sql(text: str) -> str:
    """``text`` lowercased, without identifier quotes, outer parentheses and spaces."""
    text = text.lower().replace('"', "").replace("`", "")
    text = re.sub(r"\s+", "", text)
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return text


class _ApproximateIndexFilter(logging.Filter):
    """Drops Alembic's "approximate signature" warning for the indexes :func:`same_index` checks."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Generating approximate signature for index"):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        index = args[0] if args else None
        return index is None or _sortable_columns(index) is None


_FILTER = _ApproximateIndexFilter()


def _quiet_alembic_expression_index_warning() -> None:
    logger = logging.getLogger("alembic.ddl.impl")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


# -- where new revisions go ----------------------------------------------------------------


def process_revision_directives(context: Any, revision: Any, directives: list[Any]) -> None:
    """Alembic hook: never file a host's new revision inside the installed jobs_admin package.

    Alembic puts a new revision next to the revision it follows; when that is a jobs_admin
    revision (a host's first revision after adding the package) this is the package's folder,
    and with no revision to follow it refuses to choose. Then the revision goes to the host's
    first other ``version_locations`` folder. An explicit ``--version-path`` always wins.
    """
    script_dir = getattr(context, "script", None)
    if script_dir is None:
        return
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    for script in directives:
        if getattr(script, "version_path", "") is not None:
            continue
        try:
            heads = [h for h in script_dir.get_revisions(script.head) if h is not None]
        except (RevisionError, CommandError):
            return  # e.g. several heads: Alembic itself says what to do (merge them)
        if heads and Path(heads[0].path).resolve().parent != VERSIONS_DIR:
            continue
        own = [p for p in _version_locations(script_dir) if p != VERSIONS_DIR]
        if own:
            script.version_path = str(own[0])
            log.info("jobs_admin: the new revision goes to %s", own[0])


def _version_locations(script_dir: Any) -> list[Path]:
    from alembic.util import coerce_resource_to_filename

    return [
        Path(coerce_resource_to_filename(str(p))).resolve()
        for p in script_dir.version_locations or ()
    ]
