"""merge jobs_admin_0008 (rollups of job ends) into the shop's history

Revision ID: c8d9e0f1a2b3
Revises: c7d8e9f0a1b2, jobs_admin_0008
Create Date: 2026-12-06 13:05:00

jobs_admin added a revision to its branch (the ``jobs_admin_stat`` table); this merge keeps
the shop's history at a single head (see eb5abd0fa0f9).
"""

revision = "c8d9e0f1a2b3"
down_revision = ("c7d8e9f0a1b2", "jobs_admin_0008")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
