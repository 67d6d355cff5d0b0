"""jobs_admin: trigram indexes for substring search on PostgreSQL.

Revision ID: jobs_admin_0002
Revises: jobs_admin_0001
Create Date: 2026-11-23 19:20:00

Creates the ``pg_trgm`` extension (trusted: the database owner may create it) and GIN trigram
indexes on ``jobs_admin_job.name`` and ``.reference``, which serve the admin's ILIKE '%term%'
search. Nothing changes on SQLite.

On a big table these indexes take a while (about 20 s at a million jobs on a 2-core machine), so
they are built ``CONCURRENTLY``: writers are not blocked meanwhile. A concurrent build cannot run
inside a transaction, so this revision commits what came before it and runs outside one.
"""

from alembic import op

revision = "jobs_admin_0002"
down_revision = "jobs_admin_0001"
branch_labels = None
depends_on = None

INDEXES = (("ix_jobs_admin_job_name_trgm", "name"), ("ix_jobs_admin_job_reference_trgm", "reference"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.get_context().autocommit_block():
        for name, column in INDEXES:
            op.create_index(
                name,
                "jobs_admin_job",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        for name, _column in INDEXES:
            op.drop_index(name, table_name="jobs_admin_job", postgresql_concurrently=True,
                          if_exists=True)
