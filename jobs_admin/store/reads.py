"""The store's plain reads: a job's row, its events and related jobs, jobs by id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from ..models import EventKind
from .base import Conn
from .items import ItemStore

#: The kinds of event whose rows count for the job's last attempt only (its steps and failed
#: items); its logs, history and audit span every attempt.
LAST_ATTEMPT_KINDS = frozenset({EventKind.STEP, EventKind.ITEM_FAILED})

#: The kinds listed newest first (their newest rows are shown, then put back in time order).
NEWEST_KINDS = frozenset({EventKind.LOG})


@dataclass
class JobEvents:
    """The events a detail page shows of one job.

    :param shown: per kind (its value), the rows shown, oldest first.
    :param totals: per kind, how many rows it has in all (whatever was shown).
    """

    shown: dict[str, list[Any]]
    totals: dict[str, int]


class ReadStore(ItemStore):
    """What the runner, the extension and the detail page read (portable: written once)."""

    def job_row(self, conn: Conn, job_id: int) -> Mapping[str, Any] | None:
        """The job's row as a mapping of its columns (``None``: no such job)."""
        j = self.jobs
        row = conn.execute(sa.select(j).where(j.c.id == job_id)).mappings().first()
        return cast("Mapping[str, Any] | None", row)

    def jobs_by_id(self, session: Any, ids: Sequence[int]) -> list[Any]:
        """The ``Job`` objects of ``ids`` in one query, in the order of ``ids`` (missing ones
        left out)."""
        j = self.models.Job
        found = {job.id: job for job in session.scalars(sa.select(j).where(j.id.in_(list(ids))))}
        return [found[i] for i in ids if i in found]

    def step_names(self, conn: Conn, job_id: int, attempt: int) -> list[str]:
        """The names of the steps the job recorded in ``attempt``, in order."""
        e = self.events
        stmt = (
            sa.select(e.c.message)
            .where(e.c.job_id == job_id, e.c.kind == EventKind.STEP.value, self.of_attempt(attempt))
            .order_by(e.c.id)
        )
        return [m or "" for m in conn.scalars(stmt)]

    def job_events(self, session: Any, job: Any, *, limit: int, one_read: int) -> JobEvents:
        """The events of ``job`` a detail page shows: at most ``limit`` of each kind.

        A job with few events (almost every job) has them all read by one statement, counted
        and sorted by kind here: the same rows, oldest first, as a count and a statement per
        kind give (seven; a detail page's SQL was mostly statement overhead). Only a longer
        history is read kind by kind, each with its limit.

        :param session: the session to read with.
        :param job: the ``Job``.
        :param limit: the most rows shown of one kind.
        :param one_read: up to how many events in all are read by one statement.
        """
        e = self.models.JobEvent
        last_attempt = self.of_attempt(job.attempts or 0)

        def where(kind: EventKind) -> list[Any]:
            clauses = [e.job_id == job.id, e.kind == kind.value]
            return [*clauses, last_attempt] if kind in LAST_ATTEMPT_KINDS else clauses

        in_attempt = sa.case((last_attempt, 1), else_=0)
        stmt = sa.select(e, in_attempt).where(e.job_id == job.id).order_by(e.id)
        one_read = min(one_read, limit)  # then no kind has more than the page shows
        every = session.execute(stmt.limit(max(one_read, 0) + 1)).all()
        if len(every) <= one_read:
            shown: dict[str, list[Any]] = {kind.value: [] for kind in EventKind}
            for ev, in_last in every:
                if ev.kind in shown and (in_last or ev.kind not in LAST_ATTEMPT_KINDS):
                    shown[ev.kind].append(ev)
            return JobEvents(shown, {kind: len(evs) for kind, evs in shown.items()})
        totals = {
            kind.value: session.scalar(sa.select(sa.func.count()).where(*where(kind))) or 0
            for kind in (EventKind.LOG, EventKind.ITEM_FAILED)
        }
        shown = {}
        for kind in EventKind:
            newest = kind in NEWEST_KINDS
            stmt = sa.select(e).where(*where(kind))
            stmt = stmt.order_by(e.id.desc() if newest else e.id).limit(limit)
            rows = list(session.scalars(stmt))
            shown[kind.value] = rows[::-1] if newest else rows
        return JobEvents(shown, totals)

    def related_jobs(self, session: Any, job: Any, visible: Any = None) -> list[Any]:
        """The job's retries and the job it retries, in one statement, by id.

        :param visible: a condition the related jobs must meet too (``None``: none).
        """
        j = self.models.Job
        related = j.retry_of == job.id
        if job.retry_of:
            related = sa.or_(related, j.id == job.retry_of)
        if visible is not None:
            related = sa.and_(related, visible)
        return list(session.scalars(sa.select(j).where(related).order_by(j.id)))

    def recent_steps(
        self, session: Any, job_type: str, limit: int
    ) -> list[tuple[list[tuple[str, Any]], Any]]:
        """The steps of the type's last ``limit`` completed jobs: per job, its last attempt's
        (name, start) pairs in order and when it finished (the end of its last step).

        Two statements: the jobs by the type's ``(type, created_at, id)`` index, their step
        events by the events' job index.

        :param session: the session to read with.
        :param job_type: the type's name.
        :param limit: how many of its newest completed jobs to read.
        """
        j, e = self.models.Job, self.models.JobEvent
        jobs = session.execute(
            sa.select(j.id, j.attempts, j.finished_at)
            .where(j.type == job_type, j.status == "completed")
            .order_by(j.created_at.desc(), j.id.desc())
            .limit(limit)
        ).all()
        if not jobs:
            return []
        rows = session.execute(
            sa.select(e.job_id, e.message, e.at, e.data)
            .where(e.job_id.in_([r.id for r in jobs]), e.kind == EventKind.STEP.value)
            .order_by(e.job_id, e.id)
        ).all()
        steps: dict[int, list[tuple[str, Any]]] = {r.id: [] for r in jobs}
        attempts = {r.id: r.attempts for r in jobs}
        for row in rows:
            attempt = row.data.get("attempt") if isinstance(row.data, dict) else None
            if attempt is None or attempt == attempts[row.job_id]:
                steps[row.job_id].append((row.message or "", row.at))
        return [(steps[r.id], r.finished_at) for r in jobs if r.finished_at is not None]

    def running_phases(self, conn: Conn, visible: Any = None, *, scan: int = 1000) -> list[str]:
        """The distinct phases of running jobs (that meet ``visible``), sorted: the list's
        "Running: <phase>" filter values.

        Bounded: it looks at most at ``scan`` running jobs (the status index finds them), so a
        history of a million jobs costs no more than a busy moment does.
        """
        j = self.jobs
        where = [j.c.status == "running", j.c.phase.is_not(None)]
        if visible is not None:
            where.append(visible)
        some = sa.select(j.c.phase).where(*where).limit(scan).subquery()
        stmt = sa.select(some.c.phase).distinct().order_by(some.c.phase).limit(50)
        return [p for p in conn.scalars(stmt) if p]

    def pause_reasons(self, conn: Conn, ids: Sequence[int]) -> dict[int, str]:
        """The last "paused: ..." event message of each of ``ids`` (jobs a worker's shutdown
        handed back); jobs without one are left out."""
        if not ids:
            return {}
        e = self.events
        last = (
            sa.select(sa.func.max(e.c.id))
            .where(
                e.c.job_id.in_(list(ids)),
                e.c.kind == EventKind.STATUS.value,
                e.c.message.like("paused:%"),
            )
            .group_by(e.c.job_id)
        )
        stmt = sa.select(e.c.job_id, e.c.message).where(e.c.id.in_(last))
        return {int(job_id): message for job_id, message in conn.execute(stmt)}
