"""The models (``Job``, ``JobEvent``, ``JobItem``), the per-status counters, :class:`JobStatus`.

The models are declared as mixins and made concrete on the host's own ``SQLAlchemy`` instance by
:func:`define_models`, so that they live in the host's metadata (Alembic and ``create_all`` see
them) whatever ``db.Model`` the host uses.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .statuses import (
    ACTIVE,
    BADGES,
    FINISHED,
    ITEM_EVENT,
    RETRYABLE,
    TRANSITIONS,
    EventKind,
    ItemOutcome,
    JobStatus,
)

__all__ = [
    "ACTIVE",
    "BADGES",
    "FINISHED",
    "ITEM_EVENT",
    "RETRYABLE",
    "TRANSITIONS",
    "EventKind",
    "ItemOutcome",
    "JobStatus",
    "Models",
    "UTCDateTime",
    "define_models",
    "utcnow",
]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("jobs_admin stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


# BIGINT primary keys do not autoincrement on SQLite; INTEGER does and is 64-bit there anyway.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

PENDING_WHERE = sa.text("status = 'pending'")


#: SQLite's FTS5 trigram index of job names and references (substring search).
SEARCH_TABLE = "jobs_admin_job_fts"

#: The FTS5 table and the triggers that keep it in step with ``jobs_admin_job`` (SQLite only;
#: the migration ``jobs_admin_0004`` holds the same statements).
SQLITE_SEARCH_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5("
    "name, reference, content='jobs_admin_job', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS {SEARCH_TABLE}_ai AFTER INSERT ON jobs_admin_job BEGIN "
    f"INSERT INTO {SEARCH_TABLE}(rowid, name, reference) VALUES (new.id, new.name, new.reference);"
    " END",
    f"CREATE TRIGGER IF NOT EXISTS {SEARCH_TABLE}_ad AFTER DELETE ON jobs_admin_job BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, name, reference) "
    "VALUES ('delete', old.id, old.name, old.reference); END",
    f"CREATE TRIGGER IF NOT EXISTS {SEARCH_TABLE}_au AFTER UPDATE OF name, reference "
    f"ON jobs_admin_job BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, name, reference) "
    "VALUES ('delete', old.id, old.name, old.reference); "
    f"INSERT INTO {SEARCH_TABLE}(rowid, name, reference) VALUES (new.id, new.name, new.reference);"
    " END",
)


class JobMixin:
    """Columns of ``jobs_admin_job``: one row per job."""

    __tablename__ = "jobs_admin_job"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default=JobStatus.PENDING.value)
    phase: Mapped[str | None] = mapped_column(sa.String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[Any | None] = mapped_column(JSONType)
    result_file: Mapped[str | None] = mapped_column(sa.String(500))
    message: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    traceback: Mapped[str | None] = mapped_column(sa.Text)
    progress_total: Mapped[int | None] = mapped_column(sa.Integer)
    progress_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    progress_failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(sa.String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(200))
    updated_by: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retry_of: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("jobs_admin_job.id", ondelete="SET NULL")
    )
    #: The live feed's change cursor: stamped by every write the admin shows (see
    #: :mod:`jobs_admin.changes`). On PostgreSQL the 64-bit id of the transaction that made the
    #: change; on SQLite a number above every number in use. ``NULL``: not changed since the
    #: column was added.
    change_seq: Mapped[int | None] = mapped_column(sa.BigInteger)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            sa.Index("ix_jobs_admin_job_created", "created_at", "id"),
            sa.Index("ix_jobs_admin_job_status_created", "status", "created_at", "id"),
            sa.Index("ix_jobs_admin_job_type_created", "type", "created_at", "id"),
            sa.Index("ix_jobs_admin_job_user_created", "created_by", "created_at", "id"),
            sa.Index(
                "ix_jobs_admin_job_pending",
                sa.desc("priority"),
                "run_at",
                "id",
                postgresql_where=PENDING_WHERE,
                sqlite_where=PENDING_WHERE,
            ),
            sa.Index("ix_jobs_admin_job_finished", "finished_at"),
            sa.Index("ix_jobs_admin_job_retry_of", "retry_of"),
            sa.Index("ix_jobs_admin_job_reference", "reference"),
            sa.Index("ix_jobs_admin_job_change", "change_seq"),
            # Substring search (ILIKE '%term%') on PostgreSQL; pg_trgm is created before the
            # table (see define_models). SQLite walks the created_at index instead.
            sa.Index(
                "ix_jobs_admin_job_name_trgm",
                "name",
                postgresql_using="gin",
                postgresql_ops={"name": "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql"),
            sa.Index(
                "ix_jobs_admin_job_reference_trgm",
                "reference",
                postgresql_using="gin",
                postgresql_ops={"reference": "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql"),
        )

    @property
    def job_status(self) -> JobStatus:
        """The status as a :class:`JobStatus`."""
        return JobStatus(self.status)

    @property
    def is_active(self) -> bool:
        """Whether the job is pending or running."""
        return self.job_status.is_active

    @property
    def is_finished(self) -> bool:
        """Whether the job reached an end state."""
        return self.job_status.is_finished

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (to now while running), or ``None`` before a start."""
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def percent(self) -> float | None:
        """Progress in percent of ``progress_total`` (done and failed items both count)."""
        if not self.progress_total:
            return None
        handled = (self.progress_done or 0) + (self.progress_failed or 0)
        return min(100.0, 100.0 * handled / self.progress_total)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.type} {self.status}>"


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


@dataclass(frozen=True)
class Models:
    """The concrete model classes made for one ``SQLAlchemy`` instance."""

    Job: Any
    JobEvent: Any
    JobCount: Any
    ChangeFloor: Any
    JobItem: Any
    JobRemoval: Any


_defined: weakref.WeakKeyDictionary[Any, Models] = weakref.WeakKeyDictionary()


def define_models(db: Any) -> Models:
    """Make the concrete models on ``db.Model`` (once per ``db``; later calls return the same).

    :param db: the host's ``flask_sqlalchemy.SQLAlchemy`` instance.
    """
    try:
        return _defined[db]
    except KeyError:
        pass

    class Job(JobMixin, db.Model):
        pass

    class JobEvent(JobEventMixin, db.Model):
        pass

    class JobCount(JobCountMixin, db.Model):
        pass

    class JobChangeFloor(ChangeFloorMixin, db.Model):
        pass

    class JobItem(JobItemMixin, db.Model):
        pass

    class JobRemoval(JobRemovalMixin, db.Model):
        pass

    # The trigram indexes need the pg_trgm extension (trusted: a database owner may create it).
    sa.event.listen(
        Job.__table__,
        "before_create",
        sa.DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
    )
    # SQLite's substring search: an FTS5 trigram index over name and reference, kept in step
    # with the table by triggers (created and dropped with the table by create_all/drop_all).
    for statement in SQLITE_SEARCH_DDL:
        sa.event.listen(
            Job.__table__, "after_create", sa.DDL(statement).execute_if(dialect="sqlite")
        )
    sa.event.listen(
        Job.__table__,
        "before_drop",
        sa.DDL(f"DROP TABLE IF EXISTS {SEARCH_TABLE}").execute_if(dialect="sqlite"),
    )
    models = Models(
        Job=Job,
        JobEvent=JobEvent,
        JobCount=JobCount,
        ChangeFloor=JobChangeFloor,
        JobItem=JobItem,
        JobRemoval=JobRemoval,
    )
    _defined[db] = models
    return models
