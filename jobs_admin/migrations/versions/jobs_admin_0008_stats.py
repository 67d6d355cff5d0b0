"""jobs_admin: rollups of job ends for the Insights charts and the Prometheus metrics.

Revision ID: jobs_admin_0008
Revises: jobs_admin_0005
Create Date: 2026-12-06 13:00:00

Adds ``jobs_admin_stat`` (see ``jobs_admin/stats/model.py``): one row per (span, bucket,
type, status, created_by, slot) with the count of ends, their summed run time and wait and their
histogram buckets. A new, empty table: instant on both engines. ``flask jobs restat`` fills it from the
finished jobs already stored.
"""

import sqlalchemy as sa
from alembic import op

revision = "jobs_admin_0008"
down_revision = "jobs_admin_0005"
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


def downgrade() -> None:
    op.drop_table(TABLE)
