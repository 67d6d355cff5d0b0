"""merge jobs_admin_0004 (SQLite search index) into the shop's history

Revision ID: e7f8a9b0c1d2
Revises: d4e5f6a7b8c9, jobs_admin_0004
Create Date: 2026-11-23 20:12:00

jobs_admin added a revision to its branch (SQLite's FTS5 search index); this merge keeps the
shop's history at a single head (see eb5abd0fa0f9).
"""

revision = "e7f8a9b0c1d2"
down_revision = ("d4e5f6a7b8c9", "jobs_admin_0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
