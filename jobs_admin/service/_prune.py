"""Delete finished jobs older than a cut-off, in short batches, one process at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import signals
from ..errors import InvalidArgument
from ..models import utcnow
from ..runtime import Runtime
from ..store import remove_files


def cutoff(rt: Runtime, days: int | None) -> tuple[int, datetime]:
    """The cut-off in days (``None``: ``JOBS_ADMIN_RETENTION_DAYS``) and the time it means.

    :raises InvalidArgument: ``days`` is negative or not whole.
    """
    days = rt.settings.retention_days if days is None else days
    if int(days) != days or days < 0:
        raise InvalidArgument("days must be a whole number, 0 or more")
    return days, utcnow() - timedelta(days=days)


def count_prunable(rt: Runtime, days: int | None = None) -> int:
    """How many jobs :func:`prune` with these ``days`` would delete now (in an app context)."""
    return rt.store.count_prunable(rt.db.session, cutoff(rt, days)[1])


def prune(
    rt: Runtime,
    days: int | None = None,
    *,
    wait: bool = True,
    on_batch: Callable[[int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    poll: float = 1.0,
) -> int:
    """Delete finished jobs that finished more than ``days`` ago; return how many.

    One process prunes at a time (the store's session lock: a PostgreSQL advisory lock); each
    batch of ``JOBS_ADMIN_PRUNE_BATCH`` jobs is one statement in its own short transaction.

    :param days: the cut-off in days (default ``JOBS_ADMIN_RETENTION_DAYS``).
    :param wait: if another process is pruning, wait for it (else return 0 at once).
    :param on_batch: called with the number of jobs each committed batch deleted; what it
        raises stops the prune after that batch (the lock is released).
    :param on_wait: when given, the lock is tried every ``poll`` seconds instead of waited
        for, and this is called before each wait (it may raise to give up).
    :param poll: seconds between two tries of the lock when ``on_wait`` is given.
    :raises InvalidArgument: ``days`` is negative.
    """
    _days, before = cutoff(rt, days)
    store, own = rt.store, rt.connections
    with own.engine.connect() as lock:
        if on_wait is not None and wait:
            while not store.session_lock(lock, "prune", False):
                on_wait()
                time.sleep(poll)
        elif not store.session_lock(lock, "prune", wait):
            return 0
        try:
            with own.engine.connect() as conn:
                total = _batches(rt, conn, before, on_batch)
        finally:
            store.session_unlock(lock, "prune")
    signals.jobs_pruned.send(rt.app, count=total)
    return total


def _batches(
    rt: Runtime,
    conn: sa.Connection,
    before: datetime,
    on_batch: Callable[[int], None] | None,
) -> int:
    """:func:`prune`'s batches on ``conn``, each its own transaction; return how many."""
    store, settings = rt.store, rt.settings
    batch = settings.prune_batch or store.prune_batch_size
    total = 0
    with store.pruning(conn):
        while True:
            started = time.monotonic()
            with rt.connections.transaction(conn):
                n, files = store.prune_batch(conn, before, batch)
            freed = time.monotonic()
            total += n
            remove_files(settings.results_dir, files)
            if on_batch is not None and n:
                on_batch(n)
            # Checkpointed by the prune itself as it goes: a commit of another writer that
            # finds 1,000 pages or more in SQLite's WAL would checkpoint them all itself.
            store.checkpoint(conn)
            if n < batch:
                return total
            free = store.prune_pause(settings.prune_pause, freed - started)
            if free:
                # The checkpoint's time counts in the pause: the lock was free meanwhile.
                time.sleep(max(0.0, free - (time.monotonic() - freed)))
