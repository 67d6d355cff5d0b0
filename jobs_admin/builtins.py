"""jobs_admin's own job types (named ``jobs_admin.*``, which hosts cannot register).

``jobs_admin.prune`` clears finished jobs older than a cut-off: the admin's "Clear old jobs"
enqueues one and returns at once, and the daily housekeeping runs as one, so both show in the
list with their progress, history and the count deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from wtforms import Form, IntegerField
from wtforms.validators import NumberRange, Optional

from . import service
from .context import JobContext
from .models import JobStatus
from .registry import BUILTIN_PREFIX, make_job_type
from .runtime import runtime_of

if TYPE_CHECKING:
    from .registry import Registry
    from .runtime import Runtime

#: The built-in job type that deletes old finished jobs.
PRUNE_TYPE = f"{BUILTIN_PREFIX}prune"

#: The built-in job type that acts on everything a filter of the list matches.
BULK_TYPE = service.BULK_TYPE

#: The most days a prune cut-off may be (the admin's form says the same).
MAX_PRUNE_DAYS = 36500

#: How a housekeeping prune's ``reference`` starts; the rest is the minute it was scheduled for.
HOUSEKEEPING_REFERENCE = "housekeeping"

#: Seconds between two tries of a prune job waiting for another process's prune to finish.
LOCK_POLL = 1.0


class PruneParams(Form):
    """Params of ``jobs_admin.prune``."""

    days = IntegerField(
        "Days",
        validators=[Optional(), NumberRange(min=0, max=MAX_PRUNE_DAYS)],
        description="Finished jobs that finished more than this many days ago are deleted"
        " (empty: JOBS_ADMIN_RETENTION_DAYS).",
    )


def register_builtins(registry: Registry) -> None:
    """Register jobs_admin's own job types on ``registry``.

    :param registry: the extension's registry.
    """

    def prune(ctx: JobContext, days: int | None = None) -> dict[str, int]:
        """Delete finished jobs (completed, partial, failed, cancelled) older than a cut-off."""
        return run_prune(runtime_of(), ctx, days)

    registry.add(
        make_job_type(PRUNE_TYPE, prune, title="Clear old jobs", params=PruneParams),
        builtin=True,
    )
    register_bulk(registry)


def run_prune(rt: Runtime, ctx: JobContext, days: int | None) -> dict[str, int]:
    """The body of a ``jobs_admin.prune`` job: prune in batches, reporting each as progress.

    The total is an estimate taken before the first batch (what :func:`service.count_prunable`
    finds, plus what an earlier run of the same job did); it grows if more jobs age past the
    cut-off meanwhile, so the progress never passes it. The job stops between two batches when
    cancelled; the batches already committed stay deleted.

    :param rt: the runtime of the job's app.
    :param ctx: the job's context.
    :param days: the cut-off in days (``None``: ``JOBS_ADMIN_RETENTION_DAYS``).
    :returns: ``{"deleted": <jobs deleted by this run>, "days": <the cut-off used>}``.
    """
    days = rt.settings.retention_days if days is None else days
    ctx.step(f"Deleting finished jobs older than {days} day(s)")
    ctx.set_total(ctx.done + service.count_prunable(rt, days))

    def on_batch(deleted: int) -> None:
        total = ctx.total or 0
        if ctx.done + deleted > total:
            ctx.set_total(ctx.done + deleted)
        ctx.advance(deleted)
        ctx.check_cancelled()

    def on_wait() -> None:
        ctx.message("Waiting for another process's prune to finish")
        ctx.check_cancelled()

    deleted = service.prune(rt, days, on_batch=on_batch, on_wait=on_wait, poll=LOCK_POLL)
    ctx.message(f"Deleted {deleted} finished job(s) older than {days} day(s)")
    return {"deleted": deleted, "days": days}


def housekeeping_reference(when: datetime) -> str:
    """The ``reference`` of the housekeeping prune scheduled at ``when`` (to the minute, UTC).

    :param when: when the scheduler's tick fired.
    """
    return f"{HOUSEKEEPING_REFERENCE} {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def enqueue_housekeeping(rt: Runtime, when: datetime | None = None) -> Any:
    """Enqueue the housekeeping prune of the tick at ``when``, unless there is one already.

    Every process with a worker fires the housekeeping crontab; one job is enough. So a tick
    adds no job when a job of its minute exists (another process's tick) or when an earlier
    housekeeping prune is still pending or running. On PostgreSQL the check holds an advisory
    lock taken before the insert; on SQLite, where writers take turns, the insert comes first
    and the check then sees any job another process committed before it.

    :param rt: the app's runtime (in its app context).
    :param when: the tick's time (default: now).
    :returns: the new pending ``Job``, or ``None`` if none was needed.
    """
    reference = housekeeping_reference(when or datetime.now(UTC))
    session = rt.db.session
    j = rt.Job
    active = [JobStatus.PENDING.value, JobStatus.RUNNING.value]
    try:
        if not rt.store.try_xact_lock(session, "housekeeping"):
            session.rollback()  # another process is enqueuing it right now
            return None
        job = service.enqueue(
            rt,
            PRUNE_TYPE,
            name="Clear old jobs (housekeeping)",
            reference=reference,
            created_by=None,
        )
        other = session.execute(
            sa.select(j.id)
            .where(
                j.type == PRUNE_TYPE,
                j.id != job.id,
                sa.or_(
                    j.reference == reference,
                    sa.and_(j.reference.like(f"{HOUSEKEEPING_REFERENCE} %"), j.status.in_(active)),
                ),
            )
            .limit(1)
        ).first()
        if other is not None:
            session.rollback()
            return None
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return job


def register_bulk(registry: Registry) -> None:
    """Register ``jobs_admin.bulk`` (see :mod:`jobs_admin.service._bulk`) on ``registry``.

    :param registry: the extension's registry.
    """

    def bulk(
        ctx: JobContext,
        action: str,
        filter: dict[str, Any],
        max_id: int,
        user_id: str | None = None,
        own: str | None = None,
    ) -> dict[str, Any]:
        """Retry, cancel, delete or export every job a filter matched at confirmation."""
        return service.run_bulk(runtime_of(), ctx, action, filter, max_id, user_id, own)

    registry.add(make_job_type(BULK_TYPE, bulk, title="Bulk action"), builtin=True)
