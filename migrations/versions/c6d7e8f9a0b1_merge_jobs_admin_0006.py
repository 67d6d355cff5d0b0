"""merge jobs_admin_0006 (schedules) into the shop's history

Revision ID: c6d7e8f9a0b1
Revises: b2c3d4e5f6a7, jobs_admin_0006
Create Date: 2026-12-06 13:05:00

jobs_admin added a revision to its branch (schedules); this merge keeps the shop's history at a
single head (see eb5abd0fa0f9).
"""

revision = "c6d7e8f9a0b1"
down_revision = ("b2c3d4e5f6a7", "jobs_admin_0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
