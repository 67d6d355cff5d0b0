"""A bulk job's retries, cancels and deletes, a chunk of jobs per transaction.

One commit per job made a bulk retry of 100,000 jobs take most of an hour on SQLite (a commit
is a WAL sync there); a chunk of :data:`CHUNK` jobs per transaction keeps the write lock short
(so enqueues and the list are not held up) while paying one commit per chunk. Each job's
change is the store's (with its audit event); a job the store refuses (no longer in a state
the action applies to) is skipped, and a store action that refuses writes nothing first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from .. import signals
from ..errors import JobsAdminError
from ..models import JobStatus
from ..runtime import Runtime
from ..store import remove_files
from ._actions import cancel, delete, retry
from ._enqueue import WAKE_KEY

#: Jobs changed per transaction.
CHUNK = 50


def act_chunk(rt: Runtime, action: str, ids: Sequence[int], who: str | None) -> list[int]:
    """Do ``action`` (``retry``, ``cancel``, ``delete``) to the jobs ``ids`` in one
    transaction; commit; return the ids skipped.

    If the commit fails (a unique key taken meanwhile), the chunk is rolled back and done
    again one job at a time through the service functions.
    """
    session = rt.db.session
    skipped: list[int] = []
    files: list[str] = []
    changed: list[tuple[int, Any]] = []
    try:
        if action == "retry":
            ids = _retry_plain(rt, ids, who, changed, files)
        for job_id in ids:
            try:
                outcome = _one(rt, action, job_id, who)
            except JobsAdminError:
                skipped.append(job_id)
                continue
            changed.append((job_id, outcome))
            if isinstance(outcome, str):
                files.append(outcome)
        if action == "retry" and changed:
            session.info[WAKE_KEY] = True
        deleted = _detach(rt, [i for i, _o in changed]) if action == "delete" else []
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        return _one_by_one(rt, action, ids, who)
    except Exception:
        session.rollback()
        raise
    remove_files(rt.settings.results_dir, files)
    _after(rt, action, changed, deleted)
    return skipped


def _retry_plain(
    rt: Runtime, ids: Sequence[int], who: str | None, changed: list[Any], files: list[str]
) -> list[int]:
    """Retry the jobs of ``ids`` without a unique key a type at a time, set-based (the
    store's ``retry_many``); return the ids left for :func:`_one` (unique keys, unknown
    types, and those not retried, to be refused there one by one)."""
    session = rt.db.session
    job = rt.Job
    by_type: dict[str, list[int]] = {}
    left: list[int] = []
    rows = session.execute(
        sa.select(job.id, job.type, job.unique_key).where(job.id.in_(list(ids)))
    ).all()
    for row in rows:
        if row.unique_key or row.type not in rt.registry:
            left.append(row.id)
        else:
            by_type.setdefault(row.type, []).append(row.id)
    for type_name, type_ids in by_type.items():
        max_attempts = rt.registry.get(type_name).max_attempts
        done, old_files = rt.store.retry_many(session, type_ids, who, max_attempts)
        changed += [(i, None) for i in done]
        files += old_files
        left += sorted(set(type_ids) - set(done))
    found = {row.id for row in rows}
    return sorted(left + [i for i in ids if i not in found])


def _one(rt: Runtime, action: str, job_id: int, who: str | None) -> Any:
    """One job's change in the open transaction: the file to remove after the commit, or the
    status it had (cancel)."""
    session, store = rt.db.session, rt.store
    row = session.get(rt.Job, job_id)
    if row is None:
        raise JobsAdminError(f"job {job_id} no longer exists")
    if action == "retry":
        job_type = rt.registry.get(row.type)  # UnknownJobType: skipped
        if row.unique_key:
            holder = store.unique_holder(session, row.unique_key)
            if holder is not None and holder != job_id:
                raise JobsAdminError(f"job {holder} holds the key of job {job_id}")
        return store.retry(session, job_id, who, job_type.max_attempts)
    if action == "cancel":
        cancellable = row.type not in rt.registry or rt.registry.get(row.type).cancellable
        return store.cancel(session, job_id, who, cancellable)
    return store.delete(session, job_id)


def _detach(rt: Runtime, ids: list[int]) -> list[Any]:
    """The deleted rows, detached with their attributes loaded (for ``job_deleted``)."""
    session = rt.db.session
    rows = [session.get(rt.Job, i) for i in ids]
    for row in rows:
        if row is not None and row in session:
            session.expunge(row)
    return [row for row in rows if row is not None]


def _after(rt: Runtime, action: str, changed: list[tuple[int, Any]], deleted: list[Any]) -> None:
    """What the service functions do after their commit: stop running jobs, send signals."""
    if action == "delete":
        for row in deleted:
            signals.job_deleted.send(rt.app, job=row)
    if action != "cancel":
        return
    worker = rt.worker
    for job_id, old in changed:
        ctx = worker.context(job_id) if worker is not None else None
        if ctx is not None:
            ctx.request_stop("cancelled")
        if old == JobStatus.PENDING:
            signals.job_finished.send(rt.app, job=rt.db.session.get(rt.Job, job_id))


def _one_by_one(rt: Runtime, action: str, ids: Sequence[int], who: str | None) -> list[int]:
    skipped = []
    for job_id in ids:
        try:
            if action == "retry":
                retry(rt, job_id, who)
            elif action == "cancel":
                cancel(rt, job_id, who)
            else:
                delete(rt, job_id)
        except JobsAdminError:
            rt.db.session.rollback()
            skipped.append(job_id)
    return skipped
