"""The store's interface: :class:`JobStore`, the job lifecycle written once for every database.

Enqueue, claim, heartbeat, progress, finish and rescue are here; the parts that one database
does in a fused statement of its own (the claim, the enqueue's bookkeeping, a group of ends)
are hooks, implemented once in :mod:`.postgresql` and once in :mod:`.sqlite`.
"""

from __future__ import annotations

import abc
import contextlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .._sqlite_watch import CommitWatch
from ..errors import InvalidTransition
from ..models import EventKind, JobStatus, utcnow
from ..stats.writes import End
from .actions import ActionStore
from .base import Conn
from .flow import FlowStore
from .params import ParamsTerm, split_search
from .unique import holder, insert_unique
from .values import FINISH_COLUMNS, FRESH_PROGRESS, PAUSED, Finish

#: How to stop listening (see :meth:`JobStore.listen`), or ``None``.
Unlisten = Callable[[], None] | None

#: Conditions a statement's WHERE joins with AND.
Where = tuple[sa.ColumnElement[bool], ...]

#: What :meth:`JobStore._finish_group` returns of each job it ended: (id, creator, status).
Ended = tuple[int, str | None, str, End]


class JobStore(FlowStore, ActionStore):
    """The SQL of one set of job models on one database (made by
    :func:`~jobs_admin.store.make_store`).

    :param models: the concrete models made by :func:`~jobs_admin.models.define_models`.
    """

    #: The database's ``insert()`` construct (with ``on_conflict_do_nothing``), for the
    #: schedules' exactly-once inserts (:mod:`.schedules`).
    dialect_insert: Callable[..., Any]

    # -- what each database does its own way -----------------------------------------------

    #: The dialect's ``insert`` (with ``on_conflict_do_nothing``), for unique jobs.
    upsert: Callable[..., Any]

    @abc.abstractmethod
    def _enqueued(self, session: Session, job: Any) -> None:
        """After a job's INSERT: its counter, its first event, and the wake-up of idle workers,
        in the caller's transaction."""

    @abc.abstractmethod
    def _claim(
        self,
        conn: Conn,
        worker: str,
        limit: int,
        now: datetime,
        only: str | None = None,
        skip: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Move up to ``limit`` due pending jobs to running for ``worker`` (``limit`` >= 1),
        count them and log their start; return their ``id``, ``created_by`` and
        :data:`~jobs_admin.store.CLAIM_COLUMNS`, in any order.

        :param only: claim jobs of this type only (the limited claim).
        :param skip: claim no job of these types (the paused and the limited ones).
        """

    @abc.abstractmethod
    def _finish_group(
        self, conn: Conn, group: Sequence[Finish], common: dict[str, Any], mine: Where
    ) -> list[Ended]:
        """End the running jobs of ``group`` (whose values all set the same columns), with the
        ``common`` values too, where ``mine`` holds; return those ended (the counters and
        events are the caller's)."""

    # -- hearing of other processes' work -------------------------------------------------

    def listen(self, engine: sa.Engine, channel: str, callback: Callable[[], None]) -> Unlisten:
        """Call ``callback`` on every notification on ``channel`` and after each
        (re)connection; return how to stop. ``None``: the database sends no notifications.

        :param engine: the host's engine.
        :param channel: :data:`~jobs_admin.store.NOTIFY_CHANNEL` or
            :data:`jobs_admin.changes.CHANNEL`.
        :param callback: what to call (in another thread: keep it short).
        """
        return None

    def commit_watch(self, engine: sa.Engine) -> CommitWatch | None:
        """A watch that sees other processes' commits within milliseconds, for a database
        that sends no notifications; ``None``: none (the caller polls, or listens)."""
        return None

    @contextlib.contextmanager
    def guarded(self, conn: Conn) -> Iterator[None]:
        """Run a read that may fail inside this, so that its failure leaves ``conn``'s
        transaction usable."""
        yield

    # -- search ----------------------------------------------------------------------------

    @abc.abstractmethod
    def params_clause(self, term: ParamsTerm) -> sa.ColumnElement[bool]:
        """The condition of one ``params.KEY:VALUE`` term (see :mod:`.params`)."""

    def search_clauses(self, session: Any, text: str) -> list[sa.ColumnElement[bool]]:
        """The conditions of everything typed in a search box, to AND: one per free-text term
        (:meth:`search_clause`) and one per ``params.KEY:VALUE`` term (see :mod:`.params`).

        :param session: the session the list reads with.
        :param text: the search box's text.
        :raises InvalidArgument: a params term that does not parse.
        """
        found, words = split_search(text)
        return [self.params_clause(term) for term in found] + [
            self.search_clause(session, word) for word in words
        ]

    # -- enqueue ---------------------------------------------------------------------------

    def enqueue(self, session: Session, **values: Any) -> Any:
        """Add a pending job in the caller's transaction and flush it; return the ``Job``."""
        job = self.models.Job(status=JobStatus.PENDING.value, **values, **self._changed(session))
        session.add(job)
        session.flush()
        self._enqueued(session, job)
        return job

    def enqueue_unique(self, session: Session, **values: Any) -> tuple[Any, bool]:
        """:meth:`enqueue` for a job with a ``unique_key``: (the new ``Job``, False), or (the
        pending or running job that holds the key, True) with nothing added."""
        job_id, duplicate = insert_unique(self, session, values)
        job = session.get(self.models.Job, job_id)
        if not duplicate:
            self._enqueued(session, job)
        return job, duplicate

    def unique_holder(self, conn: Conn, key: str) -> int | None:
        """The id of the pending or running job that holds the unique ``key``, if any."""
        return holder(self, conn, key)

    # -- the worker's side -----------------------------------------------------------------

    def claim(self, conn: Conn, worker: str, limit: int) -> list[int]:
        """Move up to ``limit`` due pending jobs to running for ``worker``; return their ids.

        One statement: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many workers claim side by
        side; on SQLite the statement's write lock does the same. No job goes to two workers.
        """
        return sorted(row["id"] for row in self.claim_rows(conn, worker, limit))

    def claim_rows(
        self, conn: Conn, worker: str, limit: int, skip: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """:meth:`claim`, returning the claimed rows' :data:`CLAIM_COLUMNS` in run order.

        The runner starts from these values, so a claimed job costs no second read.

        :param skip: job types not to claim (paused or limited: see :mod:`.flow`).
        """
        if limit < 1:
            return []
        rows = self._claim(conn, worker, limit, utcnow(), skip=sorted(skip))
        rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
        return rows

    def pause_values(self) -> dict[str, Any]:
        """What a running job a worker pauses at its shutdown gets (with :meth:`finish` to
        ``pending``): no attempt spent, its progress and first start kept, the phase
        :data:`~jobs_admin.store.PAUSED` until a worker resumes it."""
        return {
            "worker": None,
            "run_at": utcnow(),
            "attempts": self.jobs.c.attempts - 1,
            "heartbeat_at": None,
            "phase": PAUSED,
        }

    def hand_back(self, conn: Conn, job_id: int, worker: str) -> bool:
        """Return a job ``worker`` claimed and never started to the queue, its attempt
        refunded; False if the worker no longer owns it. A paused job claimed to resume is
        still a paused one."""
        j = self.jobs
        paused = self.paused(j.c.phase)
        values = {
            "worker": None,
            "heartbeat_at": None,
            "attempts": j.c.attempts - 1,
            "phase": sa.case((paused, PAUSED), else_=j.c.phase),
            "started_at": sa.case((paused, j.c.started_at), else_=None),
        }
        if self.finish(conn, job_id, worker, JobStatus.PENDING, values) is None:
            return False
        self.event(
            conn,
            job_id,
            EventKind.STATUS,
            "handed back to the queue at worker shutdown (not started)",
            data={"status": "pending"},
        )
        return True

    def heartbeat(self, conn: Conn, worker: str, ids: Sequence[int]) -> set[int]:
        """Refresh the heartbeat of ``worker``'s running jobs; return those asked to cancel."""
        if not ids:
            return set()
        j = self.jobs
        stmt = (
            sa.update(j)
            .where(j.c.id.in_(list(ids)), j.c.status == "running", j.c.worker == worker)
            .values(heartbeat_at=utcnow())
            .returning(j.c.id, j.c.cancel_requested)
        )
        return {row.id for row in conn.execute(stmt) if row.cancel_requested}

    def progress(self, conn: Conn, job_id: int, worker: str, values: dict[str, Any]) -> bool:
        """Write progress fields of a running job this worker owns; False if it lost the job.

        Called with no values after log lines alone were added, so the change feed sees them.
        """
        j = self.jobs
        stmt = (
            sa.update(j)
            .where(j.c.id == job_id, j.c.status == "running", j.c.worker == worker)
            .values(**self._changed(conn), **values)
        )
        result = cast(sa.CursorResult[Any], conn.execute(stmt))
        return bool(result.rowcount)

    def finish(
        self,
        conn: Conn,
        job_id: int,
        worker: str,
        status: JobStatus,
        values: dict[str, Any],
        *,
        retry: bool = False,
    ) -> JobStatus | None:
        """End a running job this worker owns, or hand it back to pending.

        :param retry: this is an automatic retry after a failed attempt: if a cancel was
            requested meanwhile the job ends cancelled instead of going back to the queue.
        :returns: the status the job got, or ``None`` if the worker no longer owns it.
        """
        j = self.jobs
        mine = [j.c.id == job_id, j.c.worker == worker]
        if status is JobStatus.PENDING and retry:
            if self._move(
                conn,
                JobStatus.RUNNING,
                JobStatus.PENDING,
                [*mine, j.c.cancel_requested.is_(False)],
                values,
            ):
                return JobStatus.PENDING
            status = JobStatus.CANCELLED
            values = {k: v for k, v in values.items() if k in ("error", "traceback")}
            values.update(phase=None, message="cancelled")
        if status is not JobStatus.PENDING:
            values = {"finished_at": utcnow(), **values}
        return status if self._move(conn, JobStatus.RUNNING, status, mine, values) else None

    def finish_many(self, conn: Conn, worker: str, ends: Sequence[Finish]) -> list[int]:
        """Write the successful ends of several of ``worker``'s jobs in the caller's transaction.

        What :meth:`finish` does for one job, for many at once: one ``UPDATE`` per set of
        columns on PostgreSQL (the values travel as one JSON record set; one per job on
        SQLite), then one counter upsert and one event insert for all. A job the worker no
        longer owns (a rescue took it) is left alone.

        :returns: the ids that were ended.
        """
        if not ends:
            return []
        j = self.jobs
        common = {"phase": None, "error": None, "traceback": None, **self._changed(conn)}
        mine = (j.c.worker == worker, j.c.status == JobStatus.RUNNING.value)
        groups: dict[tuple[str, ...], list[Finish]] = {}
        for end in ends:
            if end.status not in (JobStatus.COMPLETED, JobStatus.PARTIAL):
                raise InvalidTransition(end.job_id, "running", end.status.value)
            unknown = set(end.values) - set(FINISH_COLUMNS)
            if unknown:
                raise ValueError(f"finish_many cannot set {sorted(unknown)}")
            groups.setdefault(tuple(sorted(end.values)), []).append(end)
        moved: list[Ended] = []
        for group in groups.values():
            moved += self._finish_group(conn, group, common, mine)
        deltas: Counter[tuple[str, str]] = Counter()
        for _id, user, status, _end in moved:
            deltas[(JobStatus.RUNNING.value, user or "")] -= 1
            deltas[(status, user or "")] += 1
        self._count(conn, deltas)
        self._rollup(conn, [end for *_, end in moved])
        done = {job_id for job_id, *_ in moved}
        self.add_events(
            conn, [{"job_id": e.job_id, **ev} for e in ends if e.job_id in done for ev in e.events]
        )
        return [e.job_id for e in ends if e.job_id in done]

    def rescue(self, conn: Conn, stale_after: float) -> tuple[list[int], list[int]]:
        """Settle running jobs whose heartbeat is older than ``stale_after`` seconds.

        Those with attempts left go back to pending; the others fail with "worker lost".
        :returns: (ids requeued, ids failed).
        """
        j = self.jobs
        if not self.try_xact_lock(conn, "rescue"):
            # Another process is rescuing right now; its statement sees the same rows.
            return [], []
        now = utcnow()
        stale = [j.c.heartbeat_at < now - timedelta(seconds=stale_after)]
        requeued = self._move(
            conn,
            JobStatus.RUNNING,
            JobStatus.PENDING,
            [*stale, j.c.attempts < j.c.max_attempts],
            {
                "worker": None,
                "run_at": now,
                "error": "worker lost",
                "heartbeat_at": None,
                **FRESH_PROGRESS,
            },
        )
        failed = self._move(
            conn,
            JobStatus.RUNNING,
            JobStatus.FAILED,
            stale,
            {"error": "worker lost", "finished_at": now, "phase": None},
        )
        self.add_events(
            conn,
            [
                {
                    "job_id": m.id,
                    "kind": EventKind.STATUS.value,
                    "level": "warning",
                    "message": f"worker lost (no heartbeat for {stale_after:g} s); requeued",
                    "data": {"status": "pending"},
                }
                for m in requeued
            ]
            + [
                {
                    "job_id": m.id,
                    "kind": EventKind.STATUS.value,
                    "level": "error",
                    "message": (
                        f"worker lost (no heartbeat for {stale_after:g} s); no attempts left"
                    ),
                    "data": {"status": "failed"},
                }
                for m in failed
            ],
        )
        if requeued:
            self.notify_pending(conn)
        return [m.id for m in requeued], [m.id for m in failed]

    # -- admin actions ---------------------------------------------------------------------
