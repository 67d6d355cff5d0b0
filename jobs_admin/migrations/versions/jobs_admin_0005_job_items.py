"""jobs_admin: the recorded items of ``record_items`` job types.

Revision ID: jobs_admin_0005
Revises: jobs_admin_0004
Create Date: 2026-12-01 10:00:00

Adds ``jobs_admin_job_item``: one row per item a job of a ``record_items=True`` type reported
through ``ctx.item_done`` or ``ctx.item_failed``, with its one index
``(job_id, attempt, outcome, seq)`` (see ``jobs_admin/models.py``). A new, empty table: instant
on both engines.
"""

import sqlalchemy as sa
from alembic import op

revision = "jobs_admin_0005"
down_revision = "jobs_admin_0004"
branch_labels = None
depends_on = None

# BIGINT keys, but INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)
TABLE = "jobs_admin_job_item"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("step", sa.String(200), nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs_admin_job.id"], ondelete="CASCADE"),
    )
    op.create_index(
        "ix_jobs_admin_job_item_job", TABLE, ["job_id", "attempt", "outcome", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_admin_job_item_job", table_name=TABLE)
    op.drop_table(TABLE)
