"""Actions on everything a filter matches: the body of a ``jobs_admin.bulk`` job.

The filter is frozen at confirmation time by an upper id bound (``max_id``): jobs created
after it have larger ids and are left out, and 100,000 ids need not fit in the job's params.
The job re-evaluates the filter in batches ordered by id (keyset pagination, no OFFSET), asks
the permission checker about the requester on each job, and acts through the same service
functions as the admin's buttons (so each job changed gets its audit event).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .. import permissions as perms
from ..context import JobContext
from ..errors import InvalidArgument, PermissionDenied
from ..export import COLUMNS, _cells
from ..runtime import Runtime
from ..store.params import parse_term
from ._bulk_acts import CHUNK, act_chunk
from ._enqueue import enqueue
from ._requester import load_user, requester_id

#: The built-in job type of these jobs (registered by :mod:`jobs_admin.builtins`).
BULK_TYPE = "jobs_admin.bulk"

#: What a bulk job can do, and the permission each needs (to start it and on each job).
ACTIONS: dict[str, str] = {
    "retry": perms.RETRY,
    "cancel": perms.CANCEL,
    "delete": perms.DELETE,
    "export": perms.EXPORT,
}

#: Jobs read and acted on per batch.
BATCH = 500

#: The most skipped ids a bulk job's result lists (the count is always whole).
MAX_LISTED = 1000

#: The kinds of condition a stored filter holds (see :func:`filter_clauses`).
FILTER_KINDS = frozenset(
    {"status", "type", "created_by", "created_after", "created_before", "params"}
)


def _time(value: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value)
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


def _clause(rt: Runtime, kind: str, value: str) -> Any:
    job = rt.Job
    if kind == "status":
        status, sep, phase = value.partition(":")
        return sa.and_(job.status == status, job.phase == phase) if sep else job.status == value
    if kind == "type":
        return job.type == value
    if kind == "created_by":
        return job.created_by == value
    if kind == "created_after":
        return job.created_at >= _time(value)
    if kind == "created_before":
        return job.created_at < _time(value)
    return rt.store.params_clause(parse_term(value))


def filter_clauses(rt: Runtime, flt: Mapping[str, Any]) -> list[Any]:
    """The SQL conditions of a stored filter, to AND, as the list page applies them.

    :param flt: ``{"filters": [[kind, value], ...], "search": text}``; a kind is one of
        :data:`FILTER_KINDS` (``status`` may be ``running:<phase>``; ``created_after`` and
        ``created_before`` are ISO 8601 times; ``params`` is ``KEY:VALUE``), ``search`` what
        the list's search box held.
    :raises InvalidArgument: an unknown kind, a bad time or a term that does not parse.
    """
    out: list[Any] = []
    for pair in flt.get("filters") or ():
        kind, value = pair
        if kind not in FILTER_KINDS or not isinstance(value, str):
            raise InvalidArgument(f"unknown filter {kind!r}")
        try:
            out.append(_clause(rt, kind, value))
        except ValueError:
            raise InvalidArgument(f"bad {kind} filter value {value[:40]!r}") from None
    if flt.get("search"):
        out.extend(rt.store.search_clauses(rt.db.session, flt["search"]))
    return out


def matching(
    rt: Runtime, flt: Mapping[str, Any], own: str | None, visible: Any = None
) -> list[Any]:
    """:func:`filter_clauses` plus what the requester may see.

    :param own: the requester's identity when they lack ``view_all`` (only their jobs match).
    :param visible: the host's ``visible_jobs`` condition for the requester, if any.
    """
    clauses = filter_clauses(rt, flt)
    if own is not None:
        clauses.append(rt.Job.created_by == own)
    if visible is not None:
        clauses.append(visible)
    return clauses


def count_and_max(rt: Runtime, clauses: list[Any], max_id: int | None = None) -> tuple[int, int]:
    """How many jobs meet ``clauses`` (at or below ``max_id``) and the largest id among them
    (0 when none)."""
    job = rt.Job
    stmt = sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(job.id), 0)).where(*clauses)
    if max_id is not None:
        stmt = stmt.where(job.id <= max_id)
    count, top = rt.db.session.execute(stmt).one()
    return int(count), int(top)


def _batches(rt: Runtime, clauses: list[Any], max_id: int) -> Any:
    """The matching ids at or below ``max_id``, ``BATCH`` at a time, ascending."""
    job = rt.Job
    last = 0
    while True:
        ids = list(
            rt.db.session.scalars(
                sa.select(job.id)
                .where(*clauses, job.id <= max_id, job.id > last)
                .order_by(job.id)
                .limit(BATCH)
            )
        )
        rt.db.session.commit()  # no transaction held between batches
        if not ids:
            return
        yield ids
        last = ids[-1]


def run_bulk(
    rt: Runtime,
    ctx: JobContext,
    action: str,
    flt: Mapping[str, Any],
    max_id: int,
    user_id: str | None,
    own: str | None,
) -> dict[str, Any]:
    """The body of a ``jobs_admin.bulk`` job.

    :param action: ``retry``, ``cancel``, ``delete`` or ``export``.
    :param flt: the stored filter (see :func:`filter_clauses`).
    :param max_id: the newest matching id at confirmation; larger ids are left out.
    :param user_id: the requester's Flask-Login id (see :mod:`._requester`).
    :param own: the requester's identity when they lack ``view_all``.
    :returns: ``{"action", "total", "done", "skipped", "skipped_ids"}`` (at most
        :data:`MAX_LISTED` ids listed), plus ``"file"`` for an export.
    """
    if action not in ACTIONS:
        raise InvalidArgument(f"unknown bulk action {action!r}")
    permission = ACTIONS[action]
    user = load_user(user_id)
    who = rt.access.identity(user)
    visible = rt.access.host_visibility(user)
    if user is None:
        ctx.log(
            "The requester could not be reloaded (no Flask-Login user loader, or the user"
            " is gone): every job is skipped.",
            "warning",
        )
    clauses = matching(rt, flt, own, visible)
    total = count_and_max(rt, clauses, max_id)[0]
    ctx.step(f"{action.capitalize()} {total} job(s)")
    ctx.set_total(total)
    result: dict[str, Any] = {"action": action, "total": total, "done": 0, "skipped": 0}
    skipped_ids: list[int] = []
    result["skipped_ids"] = skipped_ids

    def skip(job_id: int) -> None:
        result["skipped"] += 1
        if len(skipped_ids) < MAX_LISTED:
            skipped_ids.append(job_id)

    writer = _Export(ctx) if action == "export" else None
    try:
        for ids in _batches(rt, clauses, max_id):
            session = rt.db.session
            rows = session.scalars(sa.select(rt.Job).where(rt.Job.id.in_(ids))).all()
            by_id = {row.id: row for row in rows}
            allowed: list[int] = []
            for job_id in ids:
                row = by_id.get(job_id)
                if row is None or user is None or not rt.access.can(permission, row, user):
                    skip(job_id)
                elif writer is not None:
                    writer.add(row)
                    result["done"] += 1
                else:
                    allowed.append(job_id)
            for start in range(0, len(allowed), CHUNK):
                chunk = allowed[start : start + CHUNK]
                refused = act_chunk(rt, action, chunk, who)
                for job_id in refused:
                    skip(job_id)
                result["done"] += len(chunk) - len(refused)
            for row in rows:  # memory stays flat whatever the count
                if row in session:
                    session.expunge(row)
            ctx.advance(len(ids))
            ctx.message(_summary(result))
            ctx.log(_summary(result))
            ctx.check_cancelled()
    finally:
        if writer is not None:
            result["file"] = writer.close()
    ctx.message(_summary(result))
    return result


def _summary(result: Mapping[str, Any]) -> str:
    verb = {"retry": "Retried", "cancel": "Cancelled", "delete": "Deleted", "export": "Exported"}
    return f"{verb[result['action']]} {result['done']} job(s), skipped {result['skipped']}"


class _Export:
    """The CSV result file of an export bulk job, written a batch at a time."""

    def __init__(self, ctx: JobContext) -> None:
        self.path = ctx.result_file("jobs.csv")
        self.file = self.path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow([header for header, _ in COLUMNS])
        self.name = "jobs.csv"

    def add(self, row: Any) -> None:
        self.writer.writerow(_cells(row))

    def close(self) -> str:
        self.file.close()
        return self.name


def scope(rt: Runtime, user: Any) -> tuple[str | None, Any]:
    """(``own``, the host's visibility condition) of ``user``: ``own`` is their identity when
    they lack ``view_all`` (only their jobs are theirs to act on)."""
    own = None if perms.sees_all(rt.access.checker, user) else (rt.access.identity(user) or "")
    return own, rt.access.host_visibility(user)


def count_matching(
    rt: Runtime, flt: Mapping[str, Any], user: Any, max_id: int | None = None
) -> tuple[int, int]:
    """(how many jobs ``user`` may see match ``flt``, at or below ``max_id``; the largest such
    id). Commits nothing; the view's confirmation names this count.

    :raises InvalidArgument: a filter that does not parse.
    """
    own, visible = scope(rt, user)
    return count_and_max(rt, matching(rt, flt, own, visible), max_id)


def start_bulk(
    rt: Runtime,
    action: str,
    flt: Mapping[str, Any],
    user: Any,
    *,
    max_id: int | None = None,
    name: str | None = None,
) -> tuple[Any, int]:
    """Enqueue a ``jobs_admin.bulk`` job doing ``action`` on every job ``flt`` matches now;
    commit; return it and the count it will go through.

    :param user: the requester, who needs the action's permission (asked again per job).
    :param max_id: the newest id the confirmation counted (default: the newest matching now);
        jobs created later are left out.
    :param name: what the list shows for the job.
    :raises PermissionDenied: ``user`` lacks the action's permission.
    :raises InvalidArgument: an unknown action or a filter that does not parse.
    """
    if action not in ACTIONS:
        raise InvalidArgument(f"unknown bulk action {action!r}")
    if user is None or not rt.access.can(ACTIONS[action], None, user):
        raise PermissionDenied(ACTIONS[action])
    count, top = count_matching(rt, flt, user, max_id)
    own, _visible = scope(rt, user)
    params = {
        "action": action,
        "filter": {
            "filters": [list(p) for p in flt.get("filters") or ()],
            "search": flt.get("search") or None,
        },
        "max_id": top if max_id is None else min(top, max_id) if top else 0,
        "user_id": requester_id(user),
        "own": own,
    }
    job = enqueue(
        rt,
        BULK_TYPE,
        name=name or f"{action.capitalize()} {count} job(s)",
        params=params,
        created_by=rt.access.identity(user),
        commit=True,
    )
    return job, count
