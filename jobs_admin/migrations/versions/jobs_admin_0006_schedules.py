"""jobs_admin: schedules (recurring jobs as records), fired exactly once.

Revision ID: jobs_admin_0006
Revises: jobs_admin_0005
Create Date: 2026-12-06 13:00:00

Adds ``jobs_admin_schedule`` and its audit trail ``jobs_admin_schedule_event``, and two nullable
columns on ``jobs_admin_job``, ``schedule_id`` and ``scheduled_for``, with a unique index on the
pair: processes firing the same tick collide there and only one job is added. Adding nullable
columns is instant on both engines; the unique index is built over a column that is ``NULL``
everywhere (on PostgreSQL it still reads the whole table once: seconds at a million jobs).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "jobs_admin_0006"
down_revision = "jobs_admin_0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs_admin_schedule",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("skip_if_running", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("edited", JSONType, nullable=False),
        sa.Column("next_run_at", UTCDateTime, nullable=True),
        sa.Column("last_scheduled_for", UTCDateTime, nullable=True),
        sa.Column("last_job_id", BigId, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_admin_schedule_due", "jobs_admin_schedule", ["next_run_at"])
    op.create_table(
        "jobs_admin_schedule_event",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("schedule_id", BigId, nullable=False),
        sa.Column("schedule_name", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("who", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("data", JSONType, nullable=True),
    )
    op.create_index(
        "ix_jobs_admin_schedule_event_schedule",
        "jobs_admin_schedule_event",
        ["schedule_id", "id"],
    )
    op.add_column("jobs_admin_job", sa.Column("schedule_id", BigId, nullable=True))
    op.add_column("jobs_admin_job", sa.Column("scheduled_for", UTCDateTime, nullable=True))
    op.create_index(
        "uq_jobs_admin_job_schedule_tick",
        "jobs_admin_job",
        ["schedule_id", "scheduled_for"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_jobs_admin_job_schedule_tick", table_name="jobs_admin_job")
    with op.batch_alter_table("jobs_admin_job") as batch:
        batch.drop_column("scheduled_for")
        batch.drop_column("schedule_id")
    op.drop_index("ix_jobs_admin_schedule_event_schedule", table_name="jobs_admin_schedule_event")
    op.drop_table("jobs_admin_schedule_event")
    op.drop_index("ix_jobs_admin_schedule_due", table_name="jobs_admin_schedule")
    op.drop_table("jobs_admin_schedule")
