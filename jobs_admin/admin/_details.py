"""What the detail page shows about a job, gathered in one place."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..i18n import gettext
from ..models import EventKind, JobStatus, utcnow
from . import _steps
from ._items import ItemsTable, read_items
from ._links import job_links
from ._preview import previewable

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
    #: The steps panel: the job's steps with their states, estimates, logs and items.
    step_lines: list[_steps.StepView] = field(default_factory=list)
    #: (the step the job is at, how many in all), or ``None``.
    step_position: tuple[int, int] | None = None
    #: The Items table of a ``record_items`` type (``None``: the failed-items table instead).
    items: ItemsTable | None = None
    #: The type's reference links, checked: (label, url).
    links: list[tuple[str, str]] = field(default_factory=list)
    #: Whether the result file opens in the HTML preview.
    previewable: bool = False


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
    # Steps and failed items are those of the job's last attempt; logs and history span all.
    read = jobs.store.job_events(session, job, limit=SHOWN_EVENTS, one_read=_ONE_READ)
    info = Details()

    def events(kind: EventKind) -> list[Any]:
        return read.shown[kind.value]

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
            pause = (
                gettext("paused, resumed")
                if went_on and nxt > min(later)
                else gettext("before pause")
            )
        info.steps.append(
            Step(ev.message or "", ev.at, max(0.0, (nxt - ev.at).total_seconds()), current, pause)
        )
    info.logs = events(EventKind.LOG)
    info.logs_total = read.totals[EventKind.LOG.value]
    info.failed_items = events(EventKind.ITEM_FAILED)
    info.failed_total = read.totals[EventKind.ITEM_FAILED.value]
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
    for row in jobs.store.related_jobs(session, job, visible):
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
    info.step_lines = _steps.build(jobs, job, info.steps, steps, info.logs)
    info.step_position = _steps.position(info.step_lines)
    if info.job_type is not None and info.job_type.record_items:
        info.items = read_items(jobs, job)
    info.links = job_links(info.job_type, job)
    info.previewable = previewable(job, info.job_type)
    return info
