"""What the detail page shows about a job, gathered in one place."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..models import EventKind, JobStatus, utcnow

if TYPE_CHECKING:
    from ..extension import JobsAdmin

#: Most log lines and failed items the detail page lists (the newest log lines, the first items).
SHOWN_EVENTS = 500
#: Up to how many events in all the page reads them in one statement (else a count and a
#: statement per kind, each with its limit).
_ONE_READ = SHOWN_EVENTS


@dataclass
class Step:
    """One step of the job's timeline."""

    name: str
    at: datetime
    seconds: float
    current: bool
    #: "before pause" for a step of a run its worker paused at shutdown, "paused, resumed"
    #: for one the pause interrupted and the next run went on with; else ``None``.
    pause: str | None = None


@dataclass
class Details:
    """Everything the detail page shows beyond the job's own columns."""

    steps: list[Step] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    logs_total: int = 0
    failed_items: list[Any] = field(default_factory=list)
    failed_total: int = 0
    history: list[Any] = field(default_factory=list)
    audit: list[Any] = field(default_factory=list)
    success_rate: float | None = None
    per_minute: float | None = None
    eta_seconds: float | None = None
    stale: bool = False
    retries: list[Any] = field(default_factory=list)
    retry_of: Any = None
    params_json: str = "{}"
    result_json: str | None = None
    job_type: Any = None


def is_stale(job: Any, stale_after: float) -> bool:
    """Whether a running job's heartbeat is older than ``stale_after`` seconds."""
    if job.status != JobStatus.RUNNING or job.heartbeat_at is None:
        return False
    return utcnow() - job.heartbeat_at > timedelta(seconds=stale_after)


def collect(
    jobs: JobsAdmin,
    job: Any,
    *,
    visible: Any = None,
    may_see: Callable[[Any], bool] | None = None,
) -> Details:
    """Read the events and related jobs of ``job`` and derive its progress figures.

    :param jobs: the extension.
    :param job: the job shown.
    :param visible: the SQL condition of the jobs the viewer may see (``None``: all), which
        the related jobs (its retries, the job it retries) must meet to be listed.
    :param may_see: the per-job check those related jobs must pass too.
    """
    session = jobs.db.session
    e = jobs.JobEvent
    info = Details()
    # Steps and failed items are those of the job's last attempt; logs and history span all.
    last_attempt = jobs.store.of_attempt(job.attempts or 0)
    scoped = {EventKind.STEP, EventKind.ITEM_FAILED}

    def where(kind: EventKind) -> list[Any]:
        clauses = [e.job_id == job.id, e.kind == kind.value]
        return [*clauses, last_attempt] if kind in scoped else clauses

    # A job with few events (almost every job) has them all read by one statement, counted and
    # sorted by kind here: the same rows, oldest first, as a count and a statement per kind give
    # (seven; a detail page's SQL was mostly statement overhead). Only a longer history is read
    # kind by kind, each with its limit.
    in_attempt = sa.case((last_attempt, 1), else_=0)
    stmt = sa.select(e, in_attempt).where(e.job_id == job.id).order_by(e.id)
    one_read = min(_ONE_READ, SHOWN_EVENTS)  # then no kind has more than the page shows
    every = session.execute(stmt.limit(max(one_read, 0) + 1)).all()
    fetched: dict[str, list[Any]] | None = None
    if len(every) <= one_read:
        fetched = {kind.value: [] for kind in EventKind}
        for ev, in_last in every:
            if ev.kind in fetched and (in_last or ev.kind not in scoped):
                fetched[ev.kind].append(ev)
        by_kind = {kind: len(evs) for kind, evs in fetched.items()}
    else:
        by_kind = {
            kind.value: session.scalar(sa.select(sa.func.count()).where(*where(kind))) or 0
            for kind in (EventKind.LOG, EventKind.ITEM_FAILED)
        }

    def events(kind: EventKind, newest: bool = False) -> list[Any]:
        if fetched is not None:
            return fetched[kind.value]
        stmt = sa.select(e).where(*where(kind))
        stmt = stmt.order_by(e.id.desc() if newest else e.id).limit(SHOWN_EVENTS)
        rows = list(session.scalars(stmt))
        return rows[::-1] if newest else rows

    steps = events(EventKind.STEP)
    info.history = events(EventKind.STATUS)
    # When workers paused the job at their shutdown (the resumed run's steps come after).
    pauses = [ev.at for ev in info.history if isinstance(ev.data, dict) and ev.data.get("paused")]
    end = job.finished_at or utcnow()
    for i, ev in enumerate(steps):
        nxt = steps[i + 1].at if i + 1 < len(steps) else end
        current = i + 1 == len(steps) and job.status == JobStatus.RUNNING
        pause = None
        later = [at for at in pauses if ev.at <= at]
        if later:
            # The last step of a job that is paused now has not gone on yet.
            went_on = i + 1 < len(steps) or job.status != JobStatus.PENDING
            pause = "paused, resumed" if went_on and nxt > min(later) else "before pause"
        info.steps.append(
            Step(ev.message or "", ev.at, max(0.0, (nxt - ev.at).total_seconds()), current, pause)
        )
    info.logs = events(EventKind.LOG, newest=True)
    info.logs_total = by_kind[EventKind.LOG.value]
    info.failed_items = events(EventKind.ITEM_FAILED)
    info.failed_total = by_kind[EventKind.ITEM_FAILED.value]
    info.audit = events(EventKind.ACTION)

    done, failed = job.progress_done or 0, job.progress_failed or 0
    handled = done + failed
    if handled:
        info.success_rate = 100.0 * done / handled
    elapsed = job.duration
    if handled and elapsed and elapsed > 0:
        info.per_minute = handled / elapsed * 60
        if job.progress_total and job.status == JobStatus.RUNNING:
            left = max(0, job.progress_total - handled)
            info.eta_seconds = left / (handled / elapsed)
    info.stale = is_stale(job, jobs.settings().stale_after)
    j = jobs.Job
    # The job's retries and the job it retries, in one statement.
    related = j.retry_of == job.id
    if job.retry_of:
        related = sa.or_(related, j.id == job.retry_of)
    if visible is not None:
        related = sa.and_(related, visible)
    for row in session.scalars(sa.select(j).where(related).order_by(j.id)):
        if may_see is not None and not may_see(row):
            continue
        if row.retry_of == job.id:
            info.retries.append(row)
        if job.retry_of and row.id == job.retry_of:
            info.retry_of = row
    info.params_json = json.dumps(job.params or {}, indent=2, sort_keys=True, ensure_ascii=False)
    if job.result is not None:
        info.result_json = json.dumps(job.result, indent=2, sort_keys=True, ensure_ascii=False)
    info.job_type = jobs.registry.get(job.type) if job.type in jobs.registry else None
    return info
