"""jobs_admin: rollups of job ends for the Insights charts and the Prometheus metrics.

Revision ID: jobs_admin_0008
Revises: jobs_admin_0007
Create Date: 2026-12-06 13:00:00

Adds ``jobs_admin_stat`` (see ``jobs_admin/stats/model.py``): one row per (span, bucket,
type, status, created_by, slot) with the count of ends, their summed run time and wait and their
histogram buckets. A new, empty table: instant on both engines. ``flask jobs restat`` fills it
from the finished jobs already stored.

Adds ``jobs_admin_job.error_group`` (the cause of a failed job, for the Failures page) and its
partial index ``ix_jobs_admin_job_failed_group`` over failed jobs.
"""

import sqlalchemy as sa
from alembic import op

revision = "jobs_admin_0008"
down_revision = "jobs_admin_0007"
branch_labels = None
depends_on = None

TABLE = "jobs_admin_stat"
#: Histogram buckets per distribution (len(BOUNDS) + 1 in jobs_admin/stats/model.py).
BUCKETS = 15


def upgrade() -> None:
    counts = [
        sa.Column(name, sa.BigInteger(), nullable=False)
        for name in (
            "n",
            "run_n",
            *(f"r{i}" for i in range(BUCKETS)),
            "wait_n",
            *(f"w{i}" for i in range(BUCKETS)),
        )
    ]
    op.create_table(
        TABLE,
        sa.Column("span", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_sum", sa.Float(), nullable=False),
        sa.Column("wait_sum", sa.Float(), nullable=False),
        *counts,
        sa.PrimaryKeyConstraint("span", "bucket", "type", "status", "created_by", "slot"),
    )


    # The Failures page's group key, and its partial index over failed jobs (small: only failed
    # rows; on a large table build it by hand with CREATE INDEX CONCURRENTLY first, then
    # ``flask db stamp``). ``flask jobs restat`` fills the key of jobs that failed before.
    op.add_column("jobs_admin_job", sa.Column("error_group", sa.String(16), nullable=True))
    op.create_index(
        "ix_jobs_admin_job_failed_group",
        "jobs_admin_job",
        ["type", "error_group", "finished_at", "id"],
        postgresql_where=sa.text("status = 'failed'"),
        sqlite_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_admin_job_failed_group", table_name="jobs_admin_job")
    with op.batch_alter_table("jobs_admin_job") as batch:
        batch.drop_column("error_group")
    op.drop_table(TABLE)
