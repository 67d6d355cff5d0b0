"""merge the jobs_admin branch (jobs_admin_0001) into the shop's history

Revision ID: eb5abd0fa0f9
Revises: aa78c10a6141, jobs_admin_0001
Create Date: 2026-11-23 18:11:00

jobs_admin ships its revisions as an Alembic branch of their own (label ``jobs_admin``). This
merge revision joins that branch's head into the shop's history, so that the history has a
single head and plain ``flask db upgrade`` (which upgrades to ``head``) runs both. When a jobs_admin
release adds a revision, ``flask db heads`` shows two heads again: ``flask db merge heads -m
"merge jobs_admin_000N"`` writes the next merge like this one.
"""

# revision identifiers, used by Alembic.
revision = "eb5abd0fa0f9"
down_revision = ("aa78c10a6141", "jobs_admin_0001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
