"""Failures grouped by cause, and ``jobs_admin.failure_group``: "Retry all" / "Delete all" of a
group, run as a batched, cancellable job with progress.

The job acts on the failed jobs of one (type, cause) group up to the newest id the admin saw
(``max_id``: failures that arrive later are not swept along), in batches of ids; it asks the
host's permission checker about each job with the requesting user (reloaded through
Flask-Login's user loader; without one, nothing is allowed), records each retry in the job's
audit trail (``retry`` does) and each delete in its own log, and counts what it skipped (no
permission, or no longer failed).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..context import JobContext
from ..errors import InvalidArgument, InvalidTransition, JobNotFound, UnknownJobType
from ..models import JobStatus
from ..runtime import Runtime
from ..stats import failures
from ._actions import delete, retry
from ._requester import load_user

#: Failed jobs read per batch.
BATCH = 500

#: What "Retry all" and "Delete all" do, with the permission each asks per job.
ACTIONS = {"retry": "retry", "delete": "delete"}


def failure_groups(
    rt: Runtime, *, created_by: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The failed jobs grouped by type and cause, newest failure first, each with its count,
    first and last seen, exception class, normalised message and one sample's error and
    traceback.

    :param rt: the app's runtime.
    :param created_by: only this user's jobs (``None``: everyone's).
    :param limit: most groups.
    """
    session = rt.db.session
    try:
        found = failures.groups(session, rt.store.jobs, created_by=created_by, limit=limit)
        sample = failures.samples(session, rt.store.jobs, [g["sample"] for g in found])
    finally:
        session.rollback()
    for group in found:
        got = sample.get(group["sample"], {})
        group["error"] = got.get("error")
        group["traceback"] = got.get("traceback")
        group["exception"], group["message"] = failures.normalize(got.get("error"))
    return found


def _matching(rt: Runtime, type_: str, group: str, max_id: int, own: str | None) -> list[Any]:
    j = rt.store.jobs.c
    where = [
        j.status == JobStatus.FAILED.value,
        j.type == type_,
        j.error_group == group if group else j.error_group.is_(None),
        j.id <= max_id,
    ]
    if own is not None:
        where.append(j.created_by == own)
    return where


def newest_id(rt: Runtime, type_: str, group: str, own: str | None = None) -> int:
    """The newest id of the group's failed jobs (0: none): the bound a new sweep gets."""
    session = rt.db.session
    try:
        where = _matching(rt, type_, group, 2**63 - 1, own)
        return int(
            session.execute(sa.select(sa.func.max(rt.store.jobs.c.id)).where(*where)).scalar() or 0
        )
    finally:
        session.rollback()


def run_failure_group(
    rt: Runtime,
    ctx: JobContext,
    action: str,
    type_: str,
    group: str,
    max_id: int,
    user_id: str | None = None,
    own: str | None = None,
) -> dict[str, Any]:
    """The body of a ``jobs_admin.failure_group`` job.

    :param action: ``"retry"`` or ``"delete"``.
    :param type_: the group's job type.
    :param group: the group's key (``""``: failures from before the key existed).
    :param max_id: the newest job id the sweep touches.
    :param user_id: the requesting user's Flask-Login id; the checker is asked about each job
        with that user.
    :param own: only this user's jobs (the requester had no ``view_all``).
    :returns: ``{"action", "done", "skipped"}``.
    """
    if action not in ACTIONS:
        raise InvalidArgument(f"unknown action {action!r}")
    user = load_user(user_id)
    who = rt.access.identity(user) if user is not None else None
    session = rt.db.session
    j = rt.store.jobs.c
    where = _matching(rt, type_, group, max_id, own)
    total = int(
        session.execute(
            sa.select(sa.func.count()).select_from(rt.store.jobs).where(*where)
        ).scalar()
        or 0
    )
    session.rollback()
    ctx.step(f"{action.capitalize()} {total} failed {type_} job(s)")
    ctx.set_total(total)
    done = skipped = 0
    last = 0
    while True:
        ids = list(
            session.execute(
                sa.select(j.id).where(*where, j.id > last).order_by(j.id).limit(BATCH)
            ).scalars()
        )
        session.rollback()
        if not ids:
            break
        last = ids[-1]
        for job_id in ids:
            ctx.check_cancelled()
            job = session.get(rt.Job, job_id)
            if job is None or not rt.access.can(ACTIONS[action], job, user):
                skipped += 1
                session.rollback()
                ctx.advance()
                continue
            try:
                if action == "retry":
                    retry(rt, job_id, who)
                else:
                    delete(rt, job_id)
                    ctx.log(f"deleted job {job_id}")
                done += 1
            except (JobNotFound, InvalidTransition, UnknownJobType):
                skipped += 1  # changed meanwhile (retried, deleted) or its type is gone
            ctx.advance()
    verb = "retried" if action == "retry" else "deleted"
    ctx.message(f"{done} job(s) {verb}, {skipped} skipped")
    return {"action": action, "done": done, "skipped": skipped}
