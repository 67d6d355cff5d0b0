"""merge jobs_admin_0007 (params search, unique jobs) into the shop's history

Revision ID: c7d8e9f0a1b2
Revises: c6d7e8f9a0b1, jobs_admin_0007
Create Date: 2026-12-06 13:05:00

jobs_admin added a revision to its branch (``unique_key``, the params GIN index); this merge
keeps the shop's history at a single head (see eb5abd0fa0f9).
"""

revision = "c7d8e9f0a1b2"
down_revision = ("c6d7e8f9a0b1", "jobs_admin_0007")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
