"""The SQLite store: one writer at a time, in this machine, with no server to fuse work in.

SQLite runs in this process, so a statement costs no round trip: the hot paths are the portable
statements (:meth:`~.base.StoreBase._move` and friends). What is SQLite's own lives here: the
change cursor's numbers and their floor, what the foreign keys would do on connections where
the host left them off, the pruning connection's pragmas, the WAL checkpoint and the pause
between prune batches, and the FTS5 search index.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .._sqlite_watch import CommitWatch
from ..config import PRUNE_BATCH_SQLITE
from ..models import FINISHED, EventKind, JobStatus
from ..stats.writes import END_COLUMNS, End
from .base import Conn
from .core import Ended, JobStore, Where
from .params import ParamsTerm, json_extract_clause
from .search import fts_match
from .values import CLAIM_COLUMNS, RESUMING, Finish

#: KiB of SQLite page cache of a connection while it prunes (see :meth:`SQLiteStore.pruning`).
PRUNE_CACHE_KIB = 32768

#: The longest sleep of SQLite's busy handler between two retries of a waiting writer (s).
SQLITE_BUSY_MAX_SLEEP = 0.1


def lock_free(pause: float, held: float) -> float:
    """How long a prune leaves SQLite's write lock free after a batch that held it ``held`` s.

    A writer that found the lock taken sleeps and retries on SQLite's busy-handler schedule:
    at most 25 ms apart during its first 128 ms of waiting, then 50 ms apart, then 100 ms. A
    pause shorter than the writer's next sleep can fall between two retries, again and again
    (a 100 ms retry period in step with the batches): the writer then starves behind the
    prune (enqueues waited 0.4-1.2 s with a fixed pause of 20-30 ms). So ``pause`` after a short
    batch, and up to a little more than the longest sleep after a long one.
    """
    return max(pause, min(held / 2, SQLITE_BUSY_MAX_SLEEP * 1.1))


class SQLiteStore(JobStore):
    """The store on SQLite."""

    dialect: ClassVar[str] = "sqlite"
    dialect_insert = staticmethod(sqlite_insert)
    prune_batch_size: ClassVar[int] = PRUNE_BATCH_SQLITE
    #: ``INSERT ... ON CONFLICT`` (unique jobs, see :mod:`.unique`).
    upsert = staticmethod(sqlite_insert)

    def params_clause(self, term: ParamsTerm) -> sa.ColumnElement[bool]:
        return json_extract_clause(self.models.Job.params, term)

    # -- the change cursor, counters, locks ------------------------------------------------

    def _top(self) -> Any:
        """``max(highest change_seq in use, floor, highest of the removals)``: the last cursor
        number handed out."""
        jobs, floor, removals = self.jobs, self.floor_table, self.removals
        in_use = sa.select(sa.func.max(jobs.c.change_seq)).scalar_subquery()
        deleted = sa.select(floor.c.seq).where(floor.c.id == 1).scalar_subquery()
        removed = sa.select(sa.func.max(removals.c.change_seq)).scalar_subquery()
        # SQLite's multi-argument max() is a scalar maximum, not the aggregate.
        return sa.func.max(
            sa.func.coalesce(in_use, 0),
            sa.func.coalesce(deleted, 0),
            sa.func.coalesce(removed, 0),
        )

    def _stamp(self) -> Any:
        # Taken under the write lock the writing transaction holds: numbers come in commit order.
        return sa.select(self._top() + 1).scalar_subquery()

    def change_cursor(self, conn: Conn) -> str:
        """The last number handed out (``"s:<number>"``)."""
        return f"s:{int(conn.execute(sa.select(self._top())).scalar() or 0)}"

    def _counter_slot(self) -> int:
        # One writer at a time: nobody waits on a counter row, one slot is enough.
        return 0

    def _for_update(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        # No row locks: the write lock of the transaction's first write covers the database.
        return stmt

    def _deleted(self, conn: Conn, ids: Sequence[int], top: int) -> None:
        if top:
            # Never hand the deleted jobs' highest number out again. The deleting transaction
            # still holds the write lock, so no writer takes a number between delete and this.
            floor = self.floor_table.name
            conn.execute(
                sa.text(
                    f"INSERT INTO {floor} (id, seq) VALUES (1, :top) "
                    f"ON CONFLICT (id) DO UPDATE SET seq = max({floor}.seq, excluded.seq)"
                ),
                {"top": int(top)},
            )
        # Do what the foreign keys' ON DELETE CASCADE / SET NULL do: SQLite enforces them only
        # on connections with PRAGMA foreign_keys=ON, which is the host's choice, not
        # jobs_admin's. "IS NOT NULL" keeps the UPDATE on the retry_of index (else SQLite's
        # planner, which sees retry_of NULL almost everywhere, scans).
        j, e = self.jobs, self.events
        conn.execute(sa.delete(e).where(e.c.job_id.in_(list(ids))))
        conn.execute(sa.delete(self.items).where(self.items.c.job_id.in_(list(ids))))
        conn.execute(
            sa.update(j)
            .where(j.c.retry_of.is_not(None), j.c.retry_of.in_(list(ids)))
            .values(retry_of=None)
        )

    def notify_pending(self, conn: Conn) -> None:
        # Workers on this machine see commits through the database file (CommitWatch).
        return None

    def try_xact_lock(self, conn: Conn, name: str) -> bool:
        # One machine, and the work such a lock guards is idempotent: always free.
        return True

    def session_lock(self, conn: Connection, name: str, wait: bool) -> bool:
        return True

    def session_unlock(self, conn: Connection, name: str) -> None:
        return None

    def commit_watch(self, engine: sa.Engine) -> CommitWatch | None:
        """A :class:`~jobs_admin._sqlite_watch.CommitWatch` on the database file (``None`` in
        memory): SQLite sends no notifications."""
        return CommitWatch.of(engine.url)

    # -- enqueue, claim, finish ------------------------------------------------------------

    def _enqueued(self, session: Session, job: Any) -> None:
        self._count(session, Counter({(JobStatus.PENDING.value, job.created_by or ""): 1}))
        self.event(session, job.id, EventKind.STATUS, "enqueued", data={"status": "pending"})

    def _claim(
        self,
        conn: Conn,
        worker: str,
        limit: int,
        now: datetime,
        only: str | None = None,
        skip: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        # The UPDATE's write lock makes the pick and the move one step: no job goes to two
        # workers.
        j = self.jobs
        where = [j.c.run_at <= now]
        if only is not None:
            where.append(j.c.type == only)
        if skip:
            where.append(j.c.type.not_in(list(skip)))
        moved = self._move(
            conn,
            JobStatus.PENDING,
            JobStatus.RUNNING,
            where,
            {
                "worker": worker,
                # A paused job keeps its first start: its run goes on where it stopped.
                "started_at": sa.case(
                    (self.paused(j.c.phase), sa.func.coalesce(j.c.started_at, now)), else_=now
                ),
                "phase": sa.case((self.paused(j.c.phase), RESUMING), else_=j.c.phase),
                "heartbeat_at": now,
                "attempts": j.c.attempts + 1,
                "finished_at": None,
                "cancel_requested": False,
                # A key held while pending only is let go at the claim (see jobs_admin._unique).
                "unique_key": sa.case((j.c.unique_key.like("p:%"), None), else_=j.c.unique_key),
            },
            order_by=[j.c.priority.desc(), j.c.run_at, j.c.id],
            limit=limit,
            returning=CLAIM_COLUMNS,
        )
        self.add_events(
            conn,
            [
                {
                    "job_id": m.id,
                    "kind": EventKind.STATUS.value,
                    "message": (
                        f"started attempt {m.extra['attempts']} of {m.extra['max_attempts']}"
                        f" on {worker}"
                    ),
                    "data": {"status": "running", "attempt": m.extra["attempts"], "worker": worker},
                }
                for m in moved
            ],
        )
        return [{"id": m.id, "created_by": m.created_by, **m.extra} for m in moved]

    def _finish_group(
        self, conn: Conn, group: Sequence[Finish], common: dict[str, Any], mine: Where
    ) -> list[Ended]:
        # SQLite runs in this process: a statement per job costs no round trip.
        j = self.jobs
        moved: list[Ended] = []
        for end in group:
            stmt = (
                sa.update(j)
                .where(j.c.id == end.job_id, *mine)
                .values(
                    status=end.status.value,
                    finished_at=end.finished_at,
                    **end.values,
                    **common,
                )
                .returning(j.c.id, j.c.created_by, *(j.c[c] for c in END_COLUMNS))
            )
            row = conn.execute(stmt).first()
            if row is not None:
                ended = End(*(row._mapping[c] for c in END_COLUMNS))
                moved.append((row.id, row.created_by, end.status.value, ended))
        return moved

    # -- prune -----------------------------------------------------------------------------

    def prune_batch(self, conn: Conn, cutoff: datetime, batch: int) -> tuple[int, list[str]]:
        """Delete up to ``batch`` finished jobs that finished before ``cutoff`` (the oldest
        first) with their events, and fix the counters, in the caller's transaction.

        :returns: how many jobs were deleted, and their result files.
        """
        j = self.jobs
        finished = [s.value for s in FINISHED]
        doomed = (
            sa.select(j.c.id)
            .where(j.c.finished_at < cutoff, j.c.status.in_(finished))
            .order_by(j.c.finished_at)
            .limit(batch)
        )
        # The DELETE picks its rows itself (on ix_jobs_admin_job_finished): no list of ids goes
        # through Python; the events and retry links of the ids it returns go next.
        return self._delete_finished(conn, j.c.id.in_(doomed.scalar_subquery()))

    @contextlib.contextmanager
    def pruning(self, conn: Connection) -> Iterator[None]:
        """SQLite settings of ``conn`` while it prunes, restored afterwards (nothing elsewhere).

        * No automatic WAL checkpoint in its commits: :meth:`JobsAdmin.prune` runs
          :meth:`checkpoint` after each batch, in the pause it leaves to other writers.
        * A page cache of :data:`PRUNE_CACHE_KIB`: a batch of 1,000 jobs touches thousands of
          pages of the ten indexes, the events and the search index; in SQLite's default 2 MB it
          evicts and re-reads them and spills dirty ones to the WAL mid-statement (batches took
          42-49 ms at the median and up to 130-485 ms; with 32 MB 32-42 ms and up to 96-100 ms).
        """
        names = ("wal_autocheckpoint", "cache_size")
        old = {name: int(conn.exec_driver_sql(f"PRAGMA {name}").scalar() or 0) for name in names}
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        conn.exec_driver_sql(f"PRAGMA cache_size = -{PRUNE_CACHE_KIB}")
        conn.commit()
        try:
            yield
        finally:
            for name, value in old.items():
                conn.exec_driver_sql(f"PRAGMA {name} = {value}")
            conn.commit()

    def checkpoint(self, conn: Connection) -> None:
        """Copy SQLite's WAL into the database as far as readers allow (``PASSIVE``: it neither
        waits for nor blocks a writer)."""
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
        conn.commit()

    def prune_pause(self, pause: float, held: float) -> float:
        """:func:`lock_free`: long enough for a writer that waited through the batch."""
        return lock_free(pause, held)

    # -- search ----------------------------------------------------------------------------

    def search_ids(self, session: Any, term: str) -> Any | None:
        """The FTS5 trigram index's matches (see :func:`~.search.fts_match`)."""
        return fts_match(session, term)
