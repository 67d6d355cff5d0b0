"""merge jobs_admin_0010 (deleted jobs for the live feed) into the shop's history

Revision ID: c0d1e2f3a4b5
Revises: c9d0e1f2a3b4, jobs_admin_0010
Create Date: 2026-12-06 13:05:00

jobs_admin added a revision to its branch (the ``jobs_admin_job_removal`` table); this merge
keeps the shop's history at a single head (see eb5abd0fa0f9).
"""

revision = "c0d1e2f3a4b5"
down_revision = ("c9d0e1f2a3b4", "jobs_admin_0010")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
