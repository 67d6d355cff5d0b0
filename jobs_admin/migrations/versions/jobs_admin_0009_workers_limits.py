"""jobs_admin: worker records, and the pause and limits of job types.

Revision ID: jobs_admin_0009
Revises: jobs_admin_0008
Create Date: 2026-12-06 13:00:00

Adds ``jobs_admin_worker`` (one row per worker process: its heartbeat and the state an admin
asked of it) and ``jobs_admin_type_state`` (one row per paused or limited job type: the pause,
``max_concurrency``, ``rate_limit`` and the rate limit's current window). Two new, empty
tables: instant on both engines.
"""

import sqlalchemy as sa
from alembic import op

revision = "jobs_admin_0009"
down_revision = "jobs_admin_0008"
branch_labels = None
depends_on = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs_admin_worker",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(50), nullable=True),
        sa.Column("embedded", sa.Boolean(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_by", sa.String(200), nullable=True),
        sa.Column("state_at", UTCDateTime, nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "jobs_admin_type_state",
        sa.Column("type", sa.String(100), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_by", sa.String(200), nullable=True),
        sa.Column("paused_at", UTCDateTime, nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("rate_limit", sa.String(20), nullable=True),
        sa.Column("limits_by", sa.String(200), nullable=True),
        sa.Column("window_start", UTCDateTime, nullable=True),
        sa.Column("window_count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("jobs_admin_type_state")
    op.drop_table("jobs_admin_worker")
