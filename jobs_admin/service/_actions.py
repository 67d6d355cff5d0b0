"""What an operator does to a job: retry it, retry its failed items, cancel it, delete it.

Each function checks nothing about the user (the admin views and the CLI do) and commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import signals
from ..errors import N_, DuplicateJob, InvalidArgument, InvalidTransition, JobNotFound
from ..models import EventKind, utcnow
from ..runtime import Runtime
from ..store import remove_files
from ._enqueue import WAKE_KEY, enqueue


def job_id_of(job: Any) -> int:
    """The id of ``job``: a ``Job``, an id, or an id as a string of digits.

    :raises InvalidArgument: anything else.
    """
    if isinstance(job, int):
        return job
    if isinstance(job, str) and job.isdigit():
        return int(job)
    job_id = getattr(job, "id", None)
    if job_id is None:
        raise InvalidArgument(f"not a job or a job id: {job!r}")
    return int(job_id)


def get(rt: Runtime, job: Any) -> Any:
    """The ``Job`` with this id from ``db.session`` (or this ``Job`` reloaded), or ``None``."""
    return rt.db.session.get(rt.Job, job_id_of(job))


def require(rt: Runtime, job: Any) -> Any:
    """:func:`get`, or raise :class:`JobNotFound`."""
    found = get(rt, job)
    if found is None:
        raise JobNotFound(job_id_of(job))
    return found


def retry(rt: Runtime, job: Any, who: str | None) -> Any:
    """Put a failed, partial or cancelled job back in the queue; commit; return it.

    :param who: the identity recorded as the one who retried it.
    :raises JobNotFound: no such job.
    :raises InvalidTransition: the job is pending, running or completed.
    :raises UnknownJobType: its type is no longer registered.
    """
    job_id = job_id_of(job)
    row = require(rt, job_id)
    job_type = rt.registry.get(row.type)
    session = rt.db.session
    # A unique job back in the queue holds its key again: not while another job holds it.
    holder = rt.store.unique_holder(session, row.unique_key) if row.unique_key else None
    if holder is not None and holder != job_id:
        raise DuplicateJob(holder, row.type)
    try:
        old_file = rt.store.retry(session, job_id, who, job_type.max_attempts)
        session.info[WAKE_KEY] = True
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        # Another job took the key between the check and the move.
        holder = rt.store.unique_holder(session, row.unique_key) if row.unique_key else None
        if holder is None:
            raise
        raise DuplicateJob(holder, row.type) from None
    except Exception:
        session.rollback()
        raise
    if old_file:
        remove_files(rt.settings.results_dir, [old_file])
    return require(rt, job_id)


def retry_failed_items(rt: Runtime, job: Any, who: str | None) -> Any:
    """Start a new job over only the failed items of a partial job; commit; return it.

    :raises InvalidTransition: the job is not partial.
    :raises InvalidArgument: its type declares no ``retry_items`` hook.
    :raises DuplicateJob: its type is unique and a job holds the rerun's key.
    """
    row = require(rt, job)
    session = rt.db.session
    # Its status now, from the database (locked on PostgreSQL): the session may hold a row
    # another request has deleted or retried since.
    status = rt.store.current_status(session, row.id, lock=True)
    if status is None:
        raise JobNotFound(row.id)
    if status != "partial":
        raise InvalidTransition(row.id, status, "pending", N_("retry its failed items"))
    job_type = rt.registry.get(row.type)
    if job_type.retry_items is None:
        raise InvalidArgument(f"job type {row.type!r} cannot retry only its failed items")
    keys = rt.store.failed_item_keys(session, row.id)
    params = job_type.retry_items(dict(row.params or {}), keys)
    new = enqueue(
        rt,
        row.type,
        name=f"{row.name} (failed items)",
        reference=row.reference,
        priority=row.priority,
        params=params,
        created_by=who,
        # A unique type's rerun while a job holds its key: refused, not that job relabelled.
        on_duplicate="raise",
    )
    new.retry_of = row.id
    rt.store.event(
        session,
        row.id,
        EventKind.ACTION,
        f"failed items retried by {who or 'system'} as job {new.id}",
        data={"action": "retry_items", "user": who, "job": new.id, "items": len(keys)},
    )
    # Its audit trail changed: open detail pages of it refresh.
    rt.store.touch(session, [row.id])
    session.commit()
    return new


def cancel(rt: Runtime, job: Any, who: str | None) -> Any:
    """Cancel a pending job, or ask a running one to stop; commit; return it.

    :raises JobNotFound: no such job.
    :raises InvalidTransition: the job is finished, or running and of a non-cancellable type.
    """
    job_id = job_id_of(job)
    row = require(rt, job_id)
    cancellable = row.type not in rt.registry or rt.registry.get(row.type).cancellable
    session = rt.db.session
    try:
        old = rt.store.cancel(session, job_id, who, cancellable)
        session.commit()
    except Exception:
        session.rollback()
        raise
    worker = rt.worker
    ctx = worker.context(job_id) if worker is not None else None
    if ctx is not None:
        ctx.request_stop("cancelled")
    row = require(rt, job_id)
    if old.value == "pending":
        signals.job_finished.send(rt.app, job=row)
    return row


def delete(rt: Runtime, job: Any) -> None:
    """Delete a finished job, its events and its result file; commit.

    :raises JobNotFound: no such job.
    :raises InvalidTransition: the job is still pending or running.
    """
    job_id = job_id_of(job)
    row = require(rt, job_id)
    session = rt.db.session
    try:
        path = rt.store.delete(session, job_id)
        # Detached with its attributes loaded, so job_deleted receivers can read them (the
        # commit would expire it, and a refresh of a deleted row raises).
        session.expunge(row)
        session.commit()
    except Exception:
        session.rollback()
        raise
    if path:
        remove_files(rt.settings.results_dir, [path])
    signals.job_deleted.send(rt.app, job=row)


def recount(rt: Runtime) -> dict[str, int]:
    """Rebuild the per-status counters from the jobs table; commit; return the counts."""
    with rt.connections.write() as conn:
        return rt.store.recount(conn)


def restat(rt: Runtime) -> int:
    """Rebuild the rollups of job ends from the finished jobs still stored; commit; return
    how many ends were counted (see :mod:`jobs_admin.stats`)."""
    with rt.connections.write() as conn:
        return rt.store.stats.restat(conn, rt.store.jobs, 0)


def fold_stats(rt: Runtime, now: datetime | None = None) -> int:
    """Drop minute rollups older than two days, hour rollups older than 32 days and day rollups
    past ``JOBS_ADMIN_STATS_RETENTION_DAYS``; commit; return the rows removed."""
    with rt.connections.write() as conn:
        return rt.store.stats.fold(conn, now or utcnow(), rt.settings.stats_retention_days)
