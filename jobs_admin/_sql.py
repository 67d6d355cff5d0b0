"""SQL expressions the admin list uses (kept out of the views, which only declare); the
search clause is the store's (:mod:`jobs_admin.store.search`)."""

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
