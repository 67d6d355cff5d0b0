"""merge jobs_admin_0005 (recorded job items) into the shop's history

Revision ID: a5b6c7d8e9f0
Revises: f1a2b3c4d5e6, jobs_admin_0005
Create Date: 2026-12-01 10:05:00

jobs_admin added a revision to its branch (the ``jobs_admin_job_item`` table); this merge keeps
the shop's history at a single head (see eb5abd0fa0f9).
"""

revision = "a5b6c7d8e9f0"
down_revision = ("f1a2b3c4d5e6", "jobs_admin_0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
