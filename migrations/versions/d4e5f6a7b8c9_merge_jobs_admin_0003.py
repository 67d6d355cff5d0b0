"""merge jobs_admin_0003 (live change cursor) into the shop's history

Revision ID: d4e5f6a7b8c9
Revises: c3f1a2b4d5e6, jobs_admin_0003
Create Date: 2026-11-23 20:05:00

jobs_admin added a revision to its branch (the live feed's change cursor); this merge keeps the
shop's history at a single head (see eb5abd0fa0f9).
"""

revision = "d4e5f6a7b8c9"
down_revision = ("c3f1a2b4d5e6", "jobs_admin_0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
