"""Enqueue a job of a unique type: an INSERT that the partial unique index may refuse.

``INSERT ... ON CONFLICT (unique_key) WHERE <the index's predicate> DO NOTHING`` on both
databases: a conflicting insert of another transaction makes PostgreSQL wait for it and then
do nothing (or insert, if it rolled back); SQLite's single writer sees it committed. Nothing
raises, so the caller's transaction stays usable without a savepoint.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import UNIQUE_WHERE, JobStatus

#: Tries before giving up when the holder of a key ends between the refused insert and the read.
_TRIES = 5


def holder(store: Any, conn: Any, key: str) -> int | None:
    """The id of the pending or running job that holds ``key``, if any.

    :param store: the app's store.
    :param conn: a session or connection.
    :param key: a unique key (see :mod:`jobs_admin._unique`).
    """
    j = store.jobs
    found = conn.execute(
        sa.select(j.c.id).where(
            j.c.unique_key == key,
            j.c.status.in_((JobStatus.PENDING.value, JobStatus.RUNNING.value)),
        )
    ).scalar()
    return None if found is None else int(found)


def insert_unique(store: Any, session: Session, values: dict[str, Any]) -> tuple[int, bool]:
    """Insert a pending job holding ``values["unique_key"]`` unless a job holds it already.

    :param store: the app's store (its ``upsert`` is its dialect's ``insert``).
    :param session: the caller's session (the insert joins its transaction).
    :param values: the job's columns (``status`` and the change stamp added here).
    :returns: (the new job's id, False), or (the holder's id, True).
    """
    j = store.jobs
    row = {"status": JobStatus.PENDING.value, **values, **store._changed(session)}
    for _ in range(_TRIES):
        stmt = (
            store.upsert(j)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["unique_key"], index_where=UNIQUE_WHERE)
            .returning(j.c.id)
        )
        new = session.execute(stmt).scalar()
        if new is not None:
            return int(new), False
        found = holder(store, session, values["unique_key"])
        if found is not None:
            return found, True
    raise RuntimeError(f"unique key {values['unique_key']!r}: no insert and no holder")
