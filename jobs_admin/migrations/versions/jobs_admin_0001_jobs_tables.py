"""jobs_admin: the jobs, job events and job counters tables.

Revision ID: jobs_admin_0001
Revises:
Create Date: 2026-11-23 18:00:00

The first revision of the ``jobs_admin`` branch. It mirrors ``jobs_admin/models.py`` column for
column and index for index, so that a schema made by these migrations and one made by
``db.create_all()`` are the same (``flask db check`` stays clean). The types are spelled out here
rather than imported from the models: a revision is a frozen picture of the schema at its time.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "jobs_admin_0001"
down_revision = None
branch_labels = ("jobs_admin",)
depends_on = None

# BIGINT keys, but INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSON, stored as JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# The models' UTCDateTime is a TypeDecorator over this type.
UTCDateTime = sa.DateTime(timezone=True)

PENDING_WHERE = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "jobs_admin_job",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(200), nullable=True),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("result", JSONType, nullable=True),
        sa.Column("result_file", sa.String(500), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_failed", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("run_at", UTCDateTime, nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("retry_of", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["retry_of"],
            ["jobs_admin_job.id"],
            ondelete="SET NULL",
        ),
    )
    job = "jobs_admin_job"
    op.create_index("ix_jobs_admin_job_created", job, ["created_at", "id"])
    op.create_index("ix_jobs_admin_job_status_created", job, ["status", "created_at", "id"])
    op.create_index("ix_jobs_admin_job_type_created", job, ["type", "created_at", "id"])
    op.create_index("ix_jobs_admin_job_user_created", job, ["created_by", "created_at", "id"])
    op.create_index(
        "ix_jobs_admin_job_pending",
        job,
        [sa.text("priority DESC"), "run_at", "id"],
        postgresql_where=PENDING_WHERE,
        sqlite_where=PENDING_WHERE,
    )
    op.create_index("ix_jobs_admin_job_finished", job, ["finished_at"])
    op.create_index("ix_jobs_admin_job_retry_of", job, ["retry_of"])
    op.create_index("ix_jobs_admin_job_reference", job, ["reference"])

    op.create_table(
        "jobs_admin_job_event",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("data", JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs_admin_job.id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_jobs_admin_job_event_job", "jobs_admin_job_event", ["job_id", "id"])

    op.create_table(
        "jobs_admin_job_count",
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status", "created_by", "slot"),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and its foreign keys with it.
    op.drop_table("jobs_admin_job_count")
    op.drop_table("jobs_admin_job_event")
    op.drop_table("jobs_admin_job")
