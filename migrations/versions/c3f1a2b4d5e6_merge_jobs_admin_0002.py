"""merge jobs_admin_0002 (trigram search indexes) into the shop's history

Revision ID: c3f1a2b4d5e6
Revises: eb5abd0fa0f9, jobs_admin_0002
Create Date: 2026-11-23 19:25:00

jobs_admin 0.1 added a revision to its branch; this merge keeps the shop's history at a single
head (see eb5abd0fa0f9).
"""

revision = "c3f1a2b4d5e6"
down_revision = ("eb5abd0fa0f9", "jobs_admin_0002")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
