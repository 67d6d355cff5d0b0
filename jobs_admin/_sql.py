"""SQL expressions the admin list uses (kept out of the views, which only declare)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


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


def search_clause(job: Any, term: str) -> sa.ColumnElement[bool]:
    """Match one search term: an exact id, reference, creator or type, or part of a name or
    reference.

    Only name and reference are searched by substring: on PostgreSQL their trigram indexes serve
    it, and every other arm is an equality on an indexed column, so no arm forces a table scan.
    """
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = f"%{escaped}%"
    clauses: list[sa.ColumnElement[bool]] = [
        job.reference == term,
        job.created_by == term,
        job.type == term,
        job.name.ilike(like, escape="\\"),
        job.reference.ilike(like, escape="\\"),
    ]
    digits = term.lstrip("#")
    if digits.isdigit() and len(digits) < 19:
        clauses.insert(0, job.id == int(digits))
    return sa.or_(*clauses)
