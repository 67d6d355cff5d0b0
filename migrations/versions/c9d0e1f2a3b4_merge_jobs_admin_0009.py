"""merge jobs_admin_0009 (worker records, type pauses and limits) into the shop's history

Revision ID: c9d0e1f2a3b4
Revises: c8d9e0f1a2b3, jobs_admin_0009
Create Date: 2026-12-06 13:05:00

jobs_admin added a revision to its branch (the ``jobs_admin_worker`` and
``jobs_admin_type_state`` tables); this merge keeps the shop's history at a single head.
"""

revision = "c9d0e1f2a3b4"
down_revision = ("c8d9e0f1a2b3", "jobs_admin_0009")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
