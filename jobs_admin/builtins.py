"""jobs_admin's own job types (named ``jobs_admin.*``, which hosts cannot register).

``jobs_admin.prune`` clears finished jobs older than a cut-off: the admin's "Clear old jobs"
enqueues one and returns at once, and the built-in schedule ``jobs_admin.housekeeping`` fires
one (see :mod:`jobs_admin.service._schedules`), so both show in the list with their progress,
history and the count deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wtforms import Form, IntegerField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from . import service
from .context import JobContext
from .registry import BUILTIN_PREFIX, make_job_type
from .runtime import runtime_of

if TYPE_CHECKING:
    from .registry import Registry
    from .runtime import Runtime

#: The built-in job type that deletes old finished jobs.
PRUNE_TYPE = f"{BUILTIN_PREFIX}prune"

#: The built-in job type behind the Failures page's "Retry all" and "Delete all".
FAILURE_GROUP_TYPE = f"{BUILTIN_PREFIX}failure_group"
#: The built-in job type that acts on everything a filter of the list matches.
BULK_TYPE = service.BULK_TYPE

#: The most days a prune cut-off may be (the admin's form says the same).
MAX_PRUNE_DAYS = 36500

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


class FailureGroupParams(Form):
    """Params of ``jobs_admin.failure_group``."""

    action = StringField("Action", validators=[AnyOf(("retry", "delete"))])
    job_type = StringField("Job type", validators=[DataRequired(), Length(max=100)])
    group = StringField("Group", validators=[Optional(), Length(max=16)])
    max_id = IntegerField("Up to job id", validators=[NumberRange(min=1, max=2**63 - 1)])
    user_id = StringField("Requested by (user id)", validators=[Optional(), Length(max=200)])
    own = StringField("Only the jobs of", validators=[Optional(), Length(max=200)])


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

    def failure_group(
        ctx: JobContext,
        action: str,
        job_type: str,
        max_id: int,
        group: str | None = None,
        user_id: str | None = None,
        own: str | None = None,
    ) -> dict[str, Any]:
        """Retry or delete the failed jobs of one group of the Failures page."""
        return service.run_failure_group(
            runtime_of(), ctx, action, job_type, group or "", max_id, user_id, own or None
        )

    registry.add(
        make_job_type(
            FAILURE_GROUP_TYPE,
            failure_group,
            title="Retry or delete a failure group",
            params=FailureGroupParams,
        ),
        builtin=True,
    )


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
    # The rollups outlive the jobs: drop old minute and hour rows, and days past their retention.
    service.fold_stats(rt)
    # Housekeeping of the Workers page too: the records of workers gone for good.
    from .service._flow import remove_lost_workers

    lost = remove_lost_workers(rt)
    if lost:
        ctx.log(f"removed the records of {lost} lost worker(s)")
    ctx.message(f"Deleted {deleted} finished job(s) older than {days} day(s)")
    return {"deleted": deleted, "days": days}


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
