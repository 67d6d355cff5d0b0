"""All SQL about jobs, one store per database: :func:`make_store` picks it once per engine.

Layout:

* :mod:`.values`: constants and value types shared with the store's callers.
* :mod:`.base`: the machinery (tables, change cursor, counters, status machine, events) and the
  hooks each database implements.
* :mod:`.reads`: what the detail page reads (a job's events, its related jobs).
* :mod:`.actions`: retry, cancel, delete and what a prune shares with them.
* :mod:`.core`: :class:`JobStore`, the interface: enqueue, claim, heartbeat, progress, finish,
  rescue, written once.
* :mod:`.postgresql`: :class:`PostgreSQLStore`: fused statements (claim, enqueue, ends, prune),
  row and advisory locks, ``NOTIFY``.
* :mod:`.sqlite`: :class:`SQLiteStore`: the cursor's floor, the foreign keys' work, prune
  pragmas, pacing and checkpoints, the FTS5 search.
* :mod:`.search`: the admin list's search clause.
"""

from __future__ import annotations

from ..models import Models
from .actions import remove_files
from .base import Conn, StoreBase
from .core import JobStore
from .postgresql import PG_COUNTER_SLOTS, PostgreSQLStore
from .reads import JobEvents
from .sqlite import PRUNE_CACHE_KIB, SQLiteStore
from .values import (
    CHANGED_KEY,
    CLAIM_COLUMNS,
    FINISH_COLUMNS,
    FRESH_PROGRESS,
    NOTIFY_CHANNEL,
    PAUSED,
    REMOVALS_KEPT,
    RESUMING,
    ActionResult,
    Finish,
    Moved,
    lock_key,
)

#: The store of each database jobs_admin supports, by SQLAlchemy dialect name.
STORES: dict[str, type[JobStore]] = {
    PostgreSQLStore.dialect: PostgreSQLStore,
    SQLiteStore.dialect: SQLiteStore,
}


def make_store(models: Models, dialect: str) -> JobStore:
    """The store of ``models`` on a database of ``dialect`` (``engine.dialect.name``).

    :param models: the concrete models made by :func:`~jobs_admin.models.define_models`.
    :param dialect: the engine's dialect name.
    :raises RuntimeError: jobs_admin has no store for that database.
    """
    try:
        cls = STORES[dialect]
    except KeyError:
        raise RuntimeError(
            f"jobs_admin supports PostgreSQL and SQLite, not {dialect!r}: "
            "use a 'postgresql+psycopg://' or 'sqlite://' database URL"
        ) from None
    return cls(models)


__all__ = [
    "CHANGED_KEY",
    "CLAIM_COLUMNS",
    "FINISH_COLUMNS",
    "FRESH_PROGRESS",
    "NOTIFY_CHANNEL",
    "PAUSED",
    "PG_COUNTER_SLOTS",
    "PRUNE_CACHE_KIB",
    "REMOVALS_KEPT",
    "RESUMING",
    "STORES",
    "ActionResult",
    "Conn",
    "Finish",
    "JobEvents",
    "JobStore",
    "Moved",
    "PostgreSQLStore",
    "SQLiteStore",
    "StoreBase",
    "lock_key",
    "make_store",
    "remove_files",
]
