"""jobs_admin: the live feed's change cursor.

Revision ID: jobs_admin_0003
Revises: jobs_admin_0002
Create Date: 2026-11-23 20:00:00

Adds ``jobs_admin_job.change_seq`` (nullable: existing jobs count as "not changed since") with
its index, which the live change feed reads by, and the one-row ``jobs_admin_change_floor`` table
that SQLite uses to never hand out a cursor number twice (see ``jobs_admin/changes.py``).

Adding a nullable column is instant on both engines. The index is built ``CONCURRENTLY`` on
PostgreSQL (a few seconds at a million jobs; writers are not blocked meanwhile), so this revision
commits what came before it and builds it outside a transaction.
"""

import sqlalchemy as sa
from alembic import op

revision = "jobs_admin_0003"
down_revision = "jobs_admin_0002"
branch_labels = None
depends_on = None

INDEX = "ix_jobs_admin_job_change"


def upgrade() -> None:
    op.add_column("jobs_admin_job", sa.Column("change_seq", sa.BigInteger(), nullable=True))
    op.create_table(
        "jobs_admin_change_floor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(INDEX, "jobs_admin_job", ["change_seq"],
                            postgresql_concurrently=True, if_not_exists=True)
    else:
        op.create_index(INDEX, "jobs_admin_job", ["change_seq"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name="jobs_admin_job", postgresql_concurrently=True,
                          if_exists=True)
    else:
        op.drop_index(INDEX, table_name="jobs_admin_job")
    op.drop_table("jobs_admin_change_floor")
    with op.batch_alter_table("jobs_admin_job") as batch:
        batch.drop_column("change_seq")
