"""SQL expressions the admin list uses (kept out of the views, which only declare)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from .models import SEARCH_TABLE


class duration_seconds(FunctionElement[float]):
    """Seconds from ``started_at`` to ``finished_at`` (or now, while running)."""

    type = sa.Float()
    inherit_cache = True
    name = "duration_seconds"


@compiles(duration_seconds, "sqlite")
def _duration_sqlite(element: duration_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    started, finished = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"((julianday(coalesce({finished}, CURRENT_TIMESTAMP)) - julianday({started})) * 86400.0)"
    )


@compiles(duration_seconds)
def _duration_default(element: duration_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    started, finished = (compiler.process(c, **kw) for c in element.clauses)
    return f"extract(epoch from (coalesce({finished}, now()) - {started}))"


#: On SQLite, a term whose trigram matches reach this many rows is searched by walking the
#: newest-first index with LIKE instead: the page fills within a few thousand rows, while an
#: IN over that many FTS matches would cost more than the walk.
FTS_MATCH_CAP = 5000


def search_clause(job: Any, term: str, session: Any = None) -> sa.ColumnElement[bool]:
    """Match one search term: an exact id, reference, creator or type, or part of a name or
    reference.

    Only name and reference are searched by substring: on PostgreSQL their trigram indexes serve
    it, on SQLite an FTS5 trigram index does (for a term of three characters or more that is not
    in thousands of rows), and every other arm is an equality on an indexed column, so no arm
    forces a table scan.

    :param session: a session to ask the SQLite search index how common the term is.
    """
    clauses: list[sa.ColumnElement[bool]] = [
        job.reference == term,
        job.created_by == term,
        job.type == term,
    ]
    digits = term.lstrip("#")
    if digits.isascii() and digits.isdigit() and len(digits) < 19:  # not "²": int() refuses it
        clauses.insert(0, job.id == int(digits))
    fts = _fts_match(session, term) if session is not None else None
    if fts is not None:
        clauses.append(job.id.in_(fts))
    else:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        clauses += [job.name.ilike(like, escape="\\"), job.reference.ilike(like, escape="\\")]
    return sa.or_(*clauses)


def _fts_match(session: Any, term: str) -> Any | None:
    """The ids whose name or reference contain ``term``, from SQLite's FTS5 trigram index.

    ``None`` where that index does not serve: not SQLite, a term under three characters (no
    trigram), or a term so common that walking the newest-first index is cheaper.
    """
    if session.get_bind().dialect.name != "sqlite" or len(term) < 3:
        return None
    table = sa.table(SEARCH_TABLE, sa.column("rowid"))
    phrase = '"' + term.replace('"', '""') + '"'
    match = sa.literal_column(SEARCH_TABLE).op("MATCH")(sa.bindparam(None, phrase))
    ids = sa.select(table.c.rowid).where(match)
    found = session.execute(
        sa.select(sa.func.count()).select_from(ids.limit(FTS_MATCH_CAP).subquery())
    ).scalar()
    return ids if (found or 0) < FTS_MATCH_CAP else None
