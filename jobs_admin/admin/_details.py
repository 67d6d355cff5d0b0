"""What the detail page shows about a job, gathered in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..models import EventKind, JobStatus, utcnow

if TYPE_CHECKING:
    from ..extension import JobsAdmin

#: Most log lines and failed items the detail page lists (the newest log lines, the first items).
SHOWN_EVENTS = 500


@dataclass
class Step:
    """One step of the job's timeline."""

    name: str
    at: datetime
    seconds: float
    current: bool


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


def collect(jobs: JobsAdmin, job: Any) -> Details:
    """Read the events and related jobs of ``job`` and derive its progress figures."""
    session = jobs.db.session
    e = jobs.JobEvent
    info = Details()
    # Steps and failed items are those of the job's last attempt; logs and history span all.
    last_attempt = jobs.store.of_attempt(job.attempts or 0)
    scoped = {EventKind.STEP, EventKind.ITEM_FAILED}

    def where(kind: EventKind) -> list[Any]:
        clauses = [e.job_id == job.id, e.kind == kind.value]
        return [*clauses, last_attempt] if kind in scoped else clauses

    by_kind = {
        kind: session.scalar(sa.select(sa.func.count()).where(*where(kind))) or 0
        for kind in (EventKind.LOG, EventKind.ITEM_FAILED)
    }

    def events(kind: EventKind, newest: bool = False) -> list[Any]:
        stmt = sa.select(e).where(*where(kind))
        stmt = stmt.order_by(e.id.desc() if newest else e.id).limit(SHOWN_EVENTS)
        rows = list(session.scalars(stmt))
        return rows[::-1] if newest else rows

    steps = events(EventKind.STEP)
    end = job.finished_at or utcnow()
    for i, ev in enumerate(steps):
        nxt = steps[i + 1].at if i + 1 < len(steps) else end
        current = i + 1 == len(steps) and job.status == JobStatus.RUNNING
        info.steps.append(
            Step(ev.message or "", ev.at, max(0.0, (nxt - ev.at).total_seconds()), current)
        )
    info.logs = events(EventKind.LOG, newest=True)
    info.logs_total = by_kind[EventKind.LOG]
    info.failed_items = events(EventKind.ITEM_FAILED)
    info.failed_total = by_kind[EventKind.ITEM_FAILED]
    info.history = events(EventKind.STATUS)
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
    info.retries = list(session.scalars(sa.select(j).where(j.retry_of == job.id).order_by(j.id)))
    info.retry_of = session.get(j, job.retry_of) if job.retry_of else None
    info.params_json = json.dumps(job.params or {}, indent=2, sort_keys=True, ensure_ascii=False)
    if job.result is not None:
        info.result_json = json.dumps(job.result, indent=2, sort_keys=True, ensure_ascii=False)
    info.job_type = jobs.registry.get(job.type) if job.type in jobs.registry else None
    return info
