"""The schedule tables: ``jobs_admin_schedule`` (one row per schedule) and
``jobs_admin_schedule_event`` (its audit trail: who changed what, and the ticks skipped).

A fired job carries ``schedule_id`` and ``scheduled_for`` (see :class:`jobs_admin.models.JobMixin`),
unique together, so that processes firing the same tick collide in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .models import BigId, JSONType, UTCDateTime, utcnow

#: Where a schedule comes from: jobs_admin itself, ``jobs.schedule()`` in the host's code, or
#: an admin's form. Built-in and code-declared ones cannot be deleted, only disabled.
ORIGINS = ("builtin", "code", "admin")


class ScheduleMixin:
    """Columns of ``jobs_admin_schedule``."""

    __tablename__ = "jobs_admin_schedule"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    cron: Mapped[str] = mapped_column(sa.String(100))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    skip_if_running: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    origin: Mapped[str] = mapped_column(sa.String(16), default="admin")
    #: Fields an admin edited on a code-declared schedule: the code no longer changes them.
    edited: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: The next tick to fire (UTC); ``NULL`` while disabled.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The tick of the last job fired by the schedule (``NULL`` for a run-now job).
    last_scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The last job the schedule fired or ran now (the job may have been deleted since).
    last_job_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(sa.String(200))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        # AUTOINCREMENT on SQLite: a deleted schedule's id is never given to a new one, so its
        # audit trail (kept by id) never mixes with another's.
        return (
            sa.Index("ix_jobs_admin_schedule_due", "next_run_at"),
            {"sqlite_autoincrement": True},
        )

    def __repr__(self) -> str:
        return f"<Schedule {self.name} {self.cron!r} {self.timezone}>"


class ScheduleEventMixin:
    """Columns of ``jobs_admin_schedule_event``: the audit trail of schedules.

    ``kind``: ``created``, ``updated``, ``enabled``, ``disabled``, ``run_now``, ``deleted``,
    ``skipped`` (a tick not fired: still running, missed while no worker ran, or a type this
    process does not know). Kept when the schedule is deleted (no foreign key), with its name.
    """

    __tablename__ = "jobs_admin_schedule_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(BigId)
    schedule_name: Mapped[str] = mapped_column(sa.String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(16))
    who: Mapped[str | None] = mapped_column(sa.String(200))
    message: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[Any | None] = mapped_column(JSONType)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (sa.Index("ix_jobs_admin_schedule_event_schedule", "schedule_id", "id"),)

    def __repr__(self) -> str:
        return f"<ScheduleEvent {self.id} {self.schedule_name} {self.kind}>"
