"""What the JSON API, the job panel and "My jobs" read: the jobs a user may see, newest first,
filtered and paged by a keyset cursor, and each job as JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ._api_args import ListArgs, encode_cursor

if TYPE_CHECKING:
    from ..extension import JobsAdmin


def select_jobs(jobs: JobsAdmin, visible: Any, args: ListArgs) -> Any:
    """The statement of the jobs matching ``args`` among those ``visible`` selects, newest first,
    one more than ``args.limit`` (to know whether a next page exists).

    Ordered by ``(created_at, id)`` descending, the order of the list page and of its indexes
    (created_at; status, type, created_by + created_at): the cursor continues after the last
    job of the previous page without an OFFSET, so a deep page costs what the first does.

    :param jobs: the extension.
    :param visible: the SQL condition of the jobs the user may see (``None``: all).
    :param args: the checked arguments.
    """
    job = jobs.Job
    stmt = sa.select(job)
    if visible is not None:
        stmt = stmt.where(visible)
    if args.statuses:
        stmt = stmt.where(job.status.in_(args.statuses))
    if args.types:
        stmt = stmt.where(job.type.in_(args.types))
    if args.created_by is not None:
        stmt = stmt.where(job.created_by == args.created_by)
    if len(args.references) == 1:
        stmt = stmt.where(job.reference == args.references[0])
    elif args.references:
        stmt = stmt.where(job.reference.in_(args.references))
    if args.created_after is not None:
        stmt = stmt.where(job.created_at >= args.created_after)
    if args.created_before is not None:
        stmt = stmt.where(job.created_at < args.created_before)
    if args.search:
        # Checked by parse_list_args: a params term that does not parse was a 400 there.
        stmt = stmt.where(*jobs.store.search_clauses(jobs.db.session, args.search))
    if args.cursor is not None:
        at, last = args.cursor
        stmt = stmt.where(sa.tuple_(job.created_at, job.id) < sa.tuple_(at, last))
    # A literal LIMIT: SQLite's planner then picks the search's indexes (see the list page).
    limit = sa.bindparam(None, args.limit + 1, type_=sa.Integer, literal_execute=True)
    return stmt.order_by(job.created_at.desc(), job.id.desc()).limit(limit)


def page(
    jobs: JobsAdmin, visible: Any, args: ListArgs, may_see: Callable[[Any], bool]
) -> tuple[list[Any], str | None]:
    """One page of jobs and the cursor of the next (``None``: this is the last).

    :param may_see: the host checker's ``view`` on each job, which has the last word on it (as
        on the list page); a refused job is left out, the page may then be shorter.
    """
    rows = list(jobs.db.session.scalars(select_jobs(jobs, visible, args)))
    more = len(rows) > args.limit
    rows = rows[: args.limit]
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return [row for row in rows if may_see(row)], cursor


def iso(value: dt.datetime | None) -> str | None:
    """``value`` in ISO 8601, UTC (``None`` stays ``None``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def job_json(jobs: JobsAdmin, job: Any, url: str) -> dict[str, Any]:
    """The fields of ``job`` every answer has.

    :param url: the job's detail page.
    """
    job_type = jobs.registry.get(job.type) if job.type in jobs.registry else None
    return {
        "id": job.id,
        "type": job.type,
        "title": job_type.title if job_type is not None else job.type,
        "name": job.name,
        "reference": job.reference,
        "status": job.status,
        "phase": job.phase,
        "progress": {
            "done": job.progress_done or 0,
            "failed": job.progress_failed or 0,
            "total": job.progress_total,
        },
        "created_by": job.created_by,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "message": job.message,
        "error": job.error,
        "url": url,
    }
