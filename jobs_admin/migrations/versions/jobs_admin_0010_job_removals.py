"""jobs_admin: deleted jobs as the live feed reports them.

Revision ID: jobs_admin_0010
Revises: jobs_admin_0009
Create Date: 2026-12-06 13:00:00

Adds ``jobs_admin_job_removal``: one row per deleted or pruned job (its id, creator and the
change cursor of the deleting transaction), so that open admin pages drop the job's row (see
``jobs_admin/models.py``). A new, empty table: instant on both engines.
"""

import sqlalchemy as sa
from alembic import op

revision = "jobs_admin_0010"
down_revision = "jobs_admin_0009"
branch_labels = None
depends_on = None

# BIGINT keys, but INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)
TABLE = "jobs_admin_job_removal"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("removed_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_jobs_admin_job_removal_change", TABLE, ["change_seq"])
    op.create_index("ix_jobs_admin_job_removal_at", TABLE, ["removed_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_admin_job_removal_at", table_name=TABLE)
    op.drop_index("ix_jobs_admin_job_removal_change", table_name=TABLE)
    op.drop_table(TABLE)
