"""The store's admin actions: retry, cancel, delete, and what prunes and rereads share."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import cast

import sqlalchemy as sa

from ..errors import N_, InvalidTransition, JobNotFound
from ..models import FINISHED, RETRYABLE, EventKind, JobStatus, utcnow
from .base import Conn
from .reads import ReadStore
from .values import CHANGED_KEY, REMOVALS_KEPT


class ActionStore(ReadStore):
    """What the admin's actions and the prune need of the store (portable: written once)."""

    def _audit(self, conn: Conn, job_id: int, done: str, action: str, user: str | None) -> None:
        """Record who did ``action`` to the job (``done``: what the history says was done)."""
        data = {"action": action, "user": user}
        self.event(conn, job_id, EventKind.ACTION, f"{done} by {user or 'system'}", data=data)

    def retry(self, conn: Conn, job_id: int, user: str | None, max_attempts: int) -> str | None:
        """Put a failed, partial or cancelled job back to pending with ``max_attempts`` more runs.

        :returns: the result file of the previous run, to remove once this commits.
        :raises InvalidTransition: the job is pending, running or completed.
        """
        j = self.jobs
        row = conn.execute(sa.select(j.c.attempts, j.c.result_file).where(j.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(job_id)
        self._move_one(
            conn,
            job_id,
            JobStatus.PENDING,
            {
                "run_at": utcnow(),
                "max_attempts": row.attempts + max_attempts,
                "worker": None,
                "phase": None,
                "message": None,
                "error": None,
                "traceback": None,
                "result": None,
                "result_file": None,
                "progress_total": None,
                "progress_done": 0,
                "progress_failed": 0,
                "cancel_requested": False,
                "heartbeat_at": None,
                "started_at": None,
                "finished_at": None,
                "updated_by": user,
            },
            action=N_("retry it"),
            # running -> pending is the runner's automatic retry, never a manual one.
            expect=RETRYABLE,
        )
        self._audit(conn, job_id, "retried", "retry", user)
        self.notify_pending(conn)
        return cast("str | None", row.result_file)

    def retry_many(
        self, conn: Conn, ids: Sequence[int], user: str | None, max_attempts: int
    ) -> tuple[list[int], list[str]]:
        """:meth:`retry` of many jobs of one type in a few statements (a bulk retry): those of
        ``ids`` that are failed, partial or cancelled go back to pending, each with its audit
        event; the others are left alone.

        :param max_attempts: the type's ``max_attempts`` (runs added to each job's attempts).
        :returns: the ids retried, and the result files of their previous runs (to remove once
            this commits).
        """
        j = self.jobs
        values = {
            "run_at": utcnow(),
            "max_attempts": j.c.attempts + max_attempts,
            "worker": None,
            "phase": None,
            "message": None,
            "error": None,
            "traceback": None,
            "result": None,
            "result_file": None,
            "progress_total": None,
            "progress_done": 0,
            "progress_failed": 0,
            "cancel_requested": False,
            "heartbeat_at": None,
            "started_at": None,
            "finished_at": None,
            "updated_by": user,
        }
        files = {
            row.id: row.result_file
            for row in conn.execute(
                sa.select(j.c.id, j.c.result_file).where(
                    j.c.id.in_(list(ids)), j.c.result_file.is_not(None)
                )
            )
        }
        done: list[int] = []
        deltas: Counter[tuple[str, str]] = Counter()
        for old in sorted(RETRYABLE, key=lambda s: s.value):
            # By primary key, not _move's subquery: right after a mass change the planner's
            # stale row estimates made that a nested loop over every job of the status.
            stmt = (
                sa.update(j)
                .where(j.c.id.in_(list(ids)), j.c.status == old.value)
                .values(status=JobStatus.PENDING.value, **self._changed(conn), **values)
                .returning(j.c.id, j.c.created_by)
            )
            for row in conn.execute(stmt):
                done.append(row.id)
                deltas[(old.value, row.created_by or "")] -= 1
                deltas[(JobStatus.PENDING.value, row.created_by or "")] += 1
        if deltas:
            self._count(conn, deltas)
        if done:
            data = {"action": "retry", "user": user}
            message = f"retried by {user or 'system'}"
            kind = EventKind.ACTION.value
            self.add_events(
                conn, [{"job_id": i, "kind": kind, "message": message, "data": data} for i in done]
            )
            self.notify_pending(conn)
        return done, [files[i] for i in done if files.get(i)]

    def current_status(self, conn: Conn, job_id: int, lock: bool = False) -> str | None:
        """A job's status as stored now (``None``: no such job).

        :param lock: on PostgreSQL, lock the row until the transaction ends.
        """
        j = self.jobs
        stmt = sa.select(j.c.status).where(j.c.id == job_id)
        if lock:
            stmt = self._for_update(stmt)
        return cast("str | None", conn.execute(stmt).scalar())

    def cancel(self, conn: Conn, job_id: int, user: str | None, cancellable: bool) -> JobStatus:
        """Cancel a pending job now, or ask a running one to stop; return the status it had.

        :raises InvalidTransition: the job is finished, or running and not cancellable.
        """
        j = self.jobs
        # Hold the row (where rows lock) so a worker cannot claim it between our read and our
        # write.
        stmt = self._for_update(sa.select(j.c.status).where(j.c.id == job_id))
        current = conn.execute(stmt).scalar()
        if current is None:
            raise JobNotFound(job_id)
        if current == JobStatus.PENDING.value:
            moved = self._move(
                conn,
                JobStatus.PENDING,
                JobStatus.CANCELLED,
                [j.c.id == job_id],
                # A paused job's phase ends with the pause.
                {
                    "finished_at": utcnow(),
                    "updated_by": user,
                    "cancel_requested": True,
                    "phase": None,
                },
            )
            if moved:
                self._audit(conn, job_id, "cancelled", "cancel", user)
                return JobStatus.PENDING
            # A worker claimed it in between (SQLite): it is running now.
            current = conn.execute(sa.select(j.c.status).where(j.c.id == job_id)).scalar()
        if current != JobStatus.RUNNING.value:
            raise InvalidTransition(job_id, str(current), "cancelled", N_("cancel it"))
        if not cancellable:
            raise InvalidTransition(
                job_id, current, "cancelled", N_("cancel it: its type cannot stop while running")
            )
        conn.execute(
            sa.update(j)
            .where(j.c.id == job_id, j.c.status == "running")
            .values(cancel_requested=True, updated_by=user, **self._changed(conn))
        )
        self._audit(conn, job_id, "cancel requested", "cancel", user)
        return JobStatus.RUNNING

    def delete(self, conn: Conn, job_id: int) -> str | None:
        """Delete a finished job and its events; return its result file path (to remove).

        :raises InvalidTransition: the job is still active.
        """
        j = self.jobs
        row = conn.execute(
            sa.select(j.c.status, j.c.created_by, j.c.result_file).where(j.c.id == job_id)
        ).first()
        if row is None:
            raise JobNotFound(job_id)
        if JobStatus(row.status) not in FINISHED:
            raise InvalidTransition(
                job_id, row.status, "deleted", N_("delete it: it is still active")
            )
        self._delete_ids(conn, [job_id])
        return cast("str | None", row.result_file)

    def _delete_ids(self, conn: Conn, ids: Sequence[int]) -> list[str]:
        """Delete finished jobs by id with their events; fix counters; return their files."""
        return self._delete_finished(conn, self.jobs.c.id.in_(list(ids)))[1]

    def _delete_finished(self, conn: Conn, which: sa.ColumnElement[bool]) -> tuple[int, list[str]]:
        """Delete the finished jobs ``which`` selects, with their events; fix the counters.

        :returns: how many jobs were deleted, and their result files.
        """
        j = self.jobs
        finished = [s.value for s in FINISHED]
        stmt = (
            sa.delete(j)
            .where(which, j.c.status.in_(finished))
            .returning(j.c.id, j.c.status, j.c.created_by, j.c.result_file, j.c.change_seq)
        )
        deltas: Counter[tuple[str, str]] = Counter()
        files, deleted, owners = [], [], []
        top = 0
        # The status check and the delete are one statement: a job retried meanwhile stays.
        for row in conn.execute(stmt):
            deleted.append(row.id)
            owners.append(row.created_by)
            deltas[(row.status, row.created_by or "")] -= 1
            top = max(top, row.change_seq or 0)
            if row.result_file:
                files.append(row.result_file)
        if deleted:
            # The counts changed: this process's live feed tells the browsers at once.
            conn.info[CHANGED_KEY] = True
            self._deleted(conn, deleted, top)
            self._record_removals(conn, list(zip(deleted, owners, strict=True)))
        self._count(conn, deltas)
        return len(deleted), files

    def _record_removals(self, conn: Conn, jobs: Sequence[tuple[int, str | None]]) -> None:
        """Record deleted jobs (id, creator) for the live feed, stamped with this transaction's
        change cursor; forget the records older than :data:`REMOVALS_KEPT` first (so the new
        ones hold the highest numbers: on SQLite no number is handed out twice)."""
        r = self.removals
        now = utcnow()
        conn.execute(sa.delete(r).where(r.c.removed_at < now - REMOVALS_KEPT))
        conn.execute(
            sa.insert(r).values(change_seq=self._stamp()),
            [{"job_id": job_id, "created_by": who, "removed_at": now} for job_id, who in jobs],
        )

    def count_prunable(self, conn: Conn, cutoff: datetime) -> int:
        """How many finished jobs finished before ``cutoff`` (what a prune would delete)."""
        j = self.jobs
        finished = [s.value for s in FINISHED]
        stmt = sa.select(sa.func.count()).where(j.c.finished_at < cutoff, j.c.status.in_(finished))
        return int(conn.execute(stmt).scalar() or 0)

    def failed_item_keys(self, conn: Conn, job_id: int) -> list[str]:
        """The keys of the items the job's last attempt reported as failed, in order.

        Items that failed in an earlier attempt and succeeded in the last one are not included.
        """
        e, j = self.events, self.jobs
        attempt = conn.execute(sa.select(j.c.attempts).where(j.c.id == job_id)).scalar() or 0
        rows = conn.execute(
            sa.select(e.c.data)
            .where(
                e.c.job_id == job_id,
                e.c.kind == EventKind.ITEM_FAILED.value,
                self.of_attempt(attempt),
            )
            .order_by(e.c.id)
        )
        keys: list[str] = []
        seen: set[str] = set()
        for (data,) in rows:
            key = str((data or {}).get("key"))
            if key not in seen:
                seen.add(key)
                keys.append(key)
        return keys


def remove_files(results_dir: Path, paths: Iterable[str]) -> int:
    """Remove result files that live under ``results_dir``; return how many were removed.

    Paths outside ``results_dir`` are never touched, whatever a row says.
    """
    removed = 0
    root = results_dir.resolve()
    for name in paths:
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        parent = path.parent
        # Each job writes into its own folder; drop it when it is empty.
        if parent != root:
            with contextlib.suppress(OSError):
                parent.rmdir()
    return removed
