"""jobs_admin: SQLite's FTS5 trigram index for substring search.

Revision ID: jobs_admin_0004
Revises: jobs_admin_0003
Create Date: 2026-11-23 20:10:00

On SQLite, creates the FTS5 table ``jobs_admin_job_fts`` (trigram tokenizer, external content
``jobs_admin_job``) over job names and references, the three triggers that keep it in step with
the jobs table, and fills it from the existing jobs (about 17 s at a million jobs on a 2-core
machine; the database is locked for writes meanwhile, so run it in a quiet moment). Nothing
changes on PostgreSQL, where revision jobs_admin_0002's trigram indexes serve search.
"""

from alembic import op

revision = "jobs_admin_0004"
down_revision = "jobs_admin_0003"
branch_labels = None
depends_on = None

FTS = "jobs_admin_job_fts"

UPGRADE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
    "name, reference, content='jobs_admin_job', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_ai AFTER INSERT ON jobs_admin_job BEGIN "
    f"INSERT INTO {FTS}(rowid, name, reference) VALUES (new.id, new.name, new.reference); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_ad AFTER DELETE ON jobs_admin_job BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, name, reference) "
    "VALUES ('delete', old.id, old.name, old.reference); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_au AFTER UPDATE OF name, reference "
    f"ON jobs_admin_job BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, name, reference) "
    "VALUES ('delete', old.id, old.name, old.reference); "
    f"INSERT INTO {FTS}(rowid, name, reference) VALUES (new.id, new.name, new.reference); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for suffix in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
    op.execute(f"DROP TABLE IF EXISTS {FTS}")
