"""The admin list's search: one clause over indexed columns, with SQLite's FTS5 trigram index.

On PostgreSQL the trigram indexes of name and reference serve the ``ILIKE`` arm; on SQLite the
FTS5 trigram index does (:func:`fts_match`, used by :class:`~.sqlite.SQLiteStore`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..models import SEARCH_TABLE

#: On SQLite, a term whose trigram matches reach this many rows is searched by walking the
#: newest-first index with LIKE instead: the page fills within a few thousand rows, while an
#: IN over that many FTS matches would cost more than the walk.
FTS_MATCH_CAP = 5000


def search_clause(job: Any, term: str, indexed: Any = None) -> sa.ColumnElement[bool]:
    """Match one search term: an exact id, reference, creator or type, or part of a name or
    reference.

    Only name and reference are searched by substring: on PostgreSQL their trigram indexes serve
    it, on SQLite an FTS5 trigram index does (for a term of three characters or more that is not
    in thousands of rows), and every other arm is an equality on an indexed column, so no arm
    forces a table scan.

    :param job: the ``Job`` model.
    :param term: what the user typed.
    :param indexed: the ids whose name or reference contain ``term``, from a search index (a
        SELECT, see :meth:`~.base.StoreBase.search_ids`); ``None``: match by ``ILIKE``.
    """
    clauses: list[sa.ColumnElement[bool]] = [
        job.reference == term,
        job.created_by == term,
        job.type == term,
    ]
    digits = term.lstrip("#")
    if digits.isascii() and digits.isdigit() and len(digits) < 19:  # not "²": int() refuses it
        clauses.insert(0, job.id == int(digits))
    if indexed is not None:
        clauses.append(job.id.in_(indexed))
    else:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        clauses += [job.name.ilike(like, escape="\\"), job.reference.ilike(like, escape="\\")]
    return sa.or_(*clauses)


def fts_match(session: Any, term: str) -> Any | None:
    """The ids whose name or reference contain ``term``, from SQLite's FTS5 trigram index.

    ``None`` where that index does not serve: a term under three characters (no trigram), or a
    term so common that walking the newest-first index is cheaper.

    :param session: a session on the SQLite database, to ask the index how common the term is.
    :param term: what the user typed.
    """
    if len(term) < 3:
        return None
    table = sa.table(SEARCH_TABLE, sa.column("rowid"))
    phrase = '"' + term.replace('"', '""') + '"'
    match = sa.literal_column(SEARCH_TABLE).op("MATCH")(sa.bindparam(None, phrase))
    ids = sa.select(table.c.rowid).where(match)
    found = session.execute(
        sa.select(sa.func.count()).select_from(ids.limit(FTS_MATCH_CAP).subquery())
    ).scalar()
    return ids if (found or 0) < FTS_MATCH_CAP else None
