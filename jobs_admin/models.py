"""The models (``Job``, ``JobEvent``, ``JobItem``), the per-status counters, :class:`JobStatus`.

The models are declared as mixins and made concrete on the host's own ``SQLAlchemy`` instance by
:func:`define_models`, so that they live in the host's metadata (Alembic and ``create_all`` see
them) whatever ``db.Model`` the host uses.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ._coltypes import BigId, JSONType, UTCDateTime, utcnow
from ._side_models import (
    ChangeFloorMixin,
    JobCountMixin,
    JobEventMixin,
    JobItemMixin,
    JobRemovalMixin,
)
from .stats.model import define_stat_table
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


PENDING_WHERE = sa.text("status = 'pending'")
FAILED_WHERE = sa.text("status = 'failed'")

#: The jobs that hold their unique key: a unique job while pending or running (a job of a
#: ``unique_while=("pending",)`` type has its key cleared when a worker claims it).
UNIQUE_WHERE = sa.text("unique_key IS NOT NULL AND status IN ('pending', 'running')")


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
    #: The schedule that fired the job (``jobs_admin_schedule.id``; no foreign key: the jobs
    #: outlive a deleted schedule), and the tick it fired for (``NULL`` for "run now"). Unique
    #: together: processes firing one tick collide in the database and only one job is added.
    schedule_id: Mapped[int | None] = mapped_column(BigId)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)

    #: The key of a job of a ``unique`` type (see :mod:`jobs_admin._unique`): no two pending or
    #: running jobs share one (a partial unique index). ``p:``-prefixed keys are held while
    #: pending only, and cleared when a worker claims the job.
    unique_key: Mapped[str | None] = mapped_column(sa.String(200))

    #: Whether :meth:`JobsAdmin.enqueue` returned an existing job instead of a new one (not a
    #: column: set on the returned object only).
    duplicate = False

    #: The cause of a failed job's error (see :mod:`jobs_admin.stats.failures`), set as it fails.
    error_group: Mapped[str | None] = mapped_column(sa.String(16))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            sa.Index(
                "uq_jobs_admin_job_schedule_tick", "schedule_id", "scheduled_for", unique=True
            ),
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
            sa.Index(
                "ix_jobs_admin_job_unique",
                "unique_key",
                unique=True,
                postgresql_where=UNIQUE_WHERE,
                sqlite_where=UNIQUE_WHERE,
            ),
            # Params search (``params @> '{...}'``) on PostgreSQL; SQLite reads json_extract.
            sa.Index(
                "ix_jobs_admin_job_params",
                "params",
                postgresql_using="gin",
                postgresql_ops={"params": "jsonb_path_ops"},
            ).ddl_if(dialect="postgresql"),
            # The Failures page: failed jobs grouped by (type, cause), only failed rows; with
            # finished_at and id the GROUP BY is an index-only scan.
            sa.Index(
                "ix_jobs_admin_job_failed_group",
                "type",
                "error_group",
                "finished_at",
                "id",
                postgresql_where=FAILED_WHERE,
                sqlite_where=FAILED_WHERE,
            ),
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


@dataclass(frozen=True)
class Models:
    """The concrete model classes made for one ``SQLAlchemy`` instance."""

    Job: Any
    JobEvent: Any
    JobCount: Any
    ChangeFloor: Any
    JobItem: Any
    Schedule: Any = None
    ScheduleEvent: Any = None

    #: The ``jobs_admin_stat`` table of rollups (a Core table: its columns are generated).
    Stat: Any = None
    #: ``jobs_admin_worker`` (see :mod:`jobs_admin.flow_models`).
    Worker: Any = None
    #: ``jobs_admin_type_state`` (see :mod:`jobs_admin.flow_models`).
    TypeState: Any = None
    #: ``jobs_admin_job_removal``: deleted jobs as the live feed reports them.
    JobRemoval: Any = None


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

    from ._schedule_models import ScheduleEventMixin, ScheduleMixin

    class JobSchedule(ScheduleMixin, db.Model):
        pass

    class JobScheduleEvent(ScheduleEventMixin, db.Model):
        pass

    from .flow_models import TypeStateMixin, WorkerMixin

    class JobWorker(WorkerMixin, db.Model):
        pass

    class JobTypeState(TypeStateMixin, db.Model):
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
        Schedule=JobSchedule,
        ScheduleEvent=JobScheduleEvent,
        Stat=define_stat_table(db.metadata),
        Worker=JobWorker,
        TypeState=JobTypeState,
        JobRemoval=JobRemoval,
    )
    _defined[db] = models
    return models
