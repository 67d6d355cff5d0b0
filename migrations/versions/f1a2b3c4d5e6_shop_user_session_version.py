"""shop: a session version per user, bumped at sign-out

Revision ID: f1a2b3c4d5e6
Revises: e7f8a9b0c1d2
Create Date: 2026-12-06 12:00:00

The session cookie names the user as ``"<id>:<session_version>"``; signing out bumps the version,
so every cookie issued before stops working. Existing users start at 0 (their old cookies, which
hold only the id, are refused: they sign in once more).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f1a2b3c4d5e6"
down_revision = "e7f8a9b0c1d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shop_user") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("shop_user") as batch:
        batch.drop_column("session_version")
