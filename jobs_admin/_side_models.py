"""The small tables beside the jobs: events, items, counters, the SQLite change floor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ._coltypes import BigId, JSONType, UTCDateTime, utcnow


class JobEventMixin:
    """Columns of ``jobs_admin_job_event``: log lines, steps, failed items, audit trail."""

    __tablename__ = "jobs_admin_job_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("jobs_admin_job.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(16))
    level: Mapped[str] = mapped_column(sa.String(16), default="info")
    message: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[Any | None] = mapped_column(JSONType)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (sa.Index("ix_jobs_admin_job_event_job", "job_id", "id"),)

    def __repr__(self) -> str:
        return f"<JobEvent {self.id} job={self.job_id} {self.kind}>"


class JobItemMixin:
    """Columns of ``jobs_admin_job_item``: one row per item a ``record_items`` job handled.

    ``seq`` numbers a run's items in the order the job reported them; the one index,
    ``(job_id, attempt, outcome, seq)``, serves a page of either outcome by keyset, and a page
    of both as two such reads merged (see :mod:`jobs_admin.store.items`), so that a million
    items per job cost one index to write.
    """

    __tablename__ = "jobs_admin_job_item"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("jobs_admin_job.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(sa.Integer)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    key: Mapped[str] = mapped_column(sa.String(500))
    outcome: Mapped[str] = mapped_column(sa.String(8))
    message: Mapped[str | None] = mapped_column(sa.Text)
    step: Mapped[str | None] = mapped_column(sa.String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (sa.Index("ix_jobs_admin_job_item_job", "job_id", "attempt", "outcome", "seq"),)

    def __repr__(self) -> str:
        return f"<JobItem {self.job_id}#{self.seq} {self.outcome}>"


class JobCountMixin:
    """Exact job counts per (status, created_by), kept by the status machine.

    Spread over a few ``slot`` rows so that concurrent writers rarely wait on one row; readers
    sum the slots. ``created_by`` is ``""`` for jobs without a user.
    """

    __tablename__ = "jobs_admin_job_count"

    status: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    created_by: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    slot: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ChangeFloorMixin:
    """One row (``id = 1``): the highest change cursor of deleted jobs, used on SQLite only.

    On SQLite the next change cursor is one more than the highest in use; deleting the jobs that
    hold the highest numbers would let a number be handed out again, below a cursor a feed has
    already passed. :meth:`~jobs_admin.store.JobStore._delete_finished` records their highest
    number here first, and the next number is taken above both. PostgreSQL's cursor (a
    transaction id) is never reused, so the table stays empty there.
    """

    __tablename__ = "jobs_admin_change_floor"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)


class JobRemovalMixin:
    """A deleted job as the live feed reports it: one row per job an admin, the API or a prune
    deleted, stamped with the change cursor of the deleting transaction.

    The job's row is gone, so the feed finds the deletion here (see
    :func:`jobs_admin.changes.read`) and tells the open pages to drop the row. Rows older than
    :data:`jobs_admin.store.REMOVALS_KEPT` are deleted by the next delete or prune.
    """

    __tablename__ = "jobs_admin_job_removal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.BigInteger)
    created_by: Mapped[str | None] = mapped_column(sa.String(200))
    change_seq: Mapped[int] = mapped_column(sa.BigInteger)
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            sa.Index("ix_jobs_admin_job_removal_change", "change_seq"),
            sa.Index("ix_jobs_admin_job_removal_at", "removed_at"),
        )
