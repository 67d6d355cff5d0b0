"""The reads of one feed tick besides the change batch: catch-ups of (re)connecting sockets,
counts per audience, and which jobs meet each host condition."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from .. import changes
from .subscriber import Audience

log = logging.getLogger("jobs_admin.live")

#: Most jobs a (re)connecting socket's catch-up delivers; past it, browsers resynchronise.
CATCH_UP_LIMIT = 1000
#: Most job rows a catch-up may have to look at: a browser's cursor with more changed jobs after
#: it (crafted, or hours old) gets a resync instead of a read as costly as the table is big.
SCAN_LIMIT = 5 * CATCH_UP_LIMIT


def catch_up(conn: Any, store: Any, since: str, who: str | None, now: str) -> changes.Batch | None:
    """What changed since a browser's cursor (``None``: it cannot be read; resync).

    :param store: the app's store.
    :param since: the browser's cursor.
    :param who: the creator whose jobs alone the socket's user sees, or ``None``.
    :param now: the cursor of the feed's read of this moment: one ahead of it, or one with
        more than :data:`SCAN_LIMIT` changed jobs after it, is not read
        (:func:`changes.servable`).
    """
    table = store.jobs

    def read() -> changes.Batch | None:
        if not changes.servable(conn, table, since, now, scan_limit=SCAN_LIMIT):
            log.info("jobs_admin live feed: cursor %r not servable; resync", since[:80])
            return None
        return changes.read(
            conn,
            table,
            since,
            limit=CATCH_UP_LIMIT,
            created_by=who,
            removals=store.removals,
        )

    try:
        # A failure must not spoil the transaction of the feed's read.
        with store.guarded(conn):
            return read()
    except sa.exc.DBAPIError as exc:
        log.warning("jobs_admin live feed could not catch up from %r: %s", since[:80], exc)
        return None


def allowed(
    conn: Any, job: Any, scopes: dict[str, Any], batches: list[changes.Batch | None]
) -> dict[str, set[int]]:
    """For each host condition, which of the jobs read now meet it (one query each).

    :param job: the ``Job`` model.
    :param scopes: scope key -> the host condition it stands for.
    :param batches: the tick's batch and catch-ups.
    """
    if not scopes:
        return {}
    ids = sorted({j["id"] for b in batches if b is not None for j in b.jobs})
    found: dict[str, set[int]] = {}
    for key, scope in scopes.items():
        found[key] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            stmt = sa.select(job.id).where(job.id.in_(chunk), scope)
            found[key].update(conn.execute(stmt).scalars())
    return found


def counts(
    conn: Any,
    store: Any,
    job: Any,
    audiences: set[Audience],
    scopes: dict[str, Any],
    kept: dict[Audience, dict[str, int]],
    changed: bool,
) -> tuple[dict[Audience, dict[str, int]], dict[Audience, dict[str, int]]]:
    """Counts per audience: every job, each own-jobs-only creator (both from the counters),
    and each host condition (counted over the jobs table, again only when jobs changed or for
    a new audience).

    :param store: the app's store.
    :param job: the ``Job`` model.
    :param audiences: the audiences of the feed's sockets.
    :param scopes: scope key -> the host condition it stands for.
    :param kept: the counts of each scoped audience from the last tick.
    :param changed: whether this read found changed jobs.
    :returns: the counts of every audience, and those of the scoped ones to keep.
    """
    result: dict[Audience, dict[str, int]] = {}
    if (None, None) in audiences:
        result[(None, None)] = store.counts(conn)
    users = [user for user, key in audiences if user is not None and key is None]
    if users:
        for user, user_counts in store.counts_of(conn, users).items():
            result[(user, None)] = user_counts
    keep: dict[Audience, dict[str, int]] = {}
    for who, scoped in audiences:
        if scoped is None:
            continue
        audience = (who, scoped)
        if changed or audience not in kept:
            condition = scopes[scoped]
            if who is not None:
                condition = sa.and_(job.created_by == who, condition)
            keep[audience] = store.counts_where(conn, condition)
        else:
            keep[audience] = kept[audience]
        result[audience] = keep[audience]
    return result, keep
