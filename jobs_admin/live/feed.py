"""Live updates: one change feed per process and app, fanned out to every websocket of it.

The feed is one thread (started with the first socket, gone a while after the last one leaves)
that reads what changed since its cursor (:mod:`jobs_admin.changes`) every
``JOBS_ADMIN_LIVE_INTERVAL`` seconds, at once when this process commits a change, and at once
when any process does: on PostgreSQL through ``LISTEN jobs_admin_changes`` (a second thread), on
SQLite by watching ``PRAGMA data_version`` (:mod:`jobs_admin._sqlite_watch`). One read
serves every socket of the process: N browsers cost the same queries as one. Each socket gets
the changed jobs its user may see and that user's counts.

Protocol (server to browser only, JSON text messages)::

    {"type": "snapshot", "counts": {...}, "cursor": "...", "resync": false}
    {"type": "changes", "jobs": [{"id": 7, "status": "running", ...}], "counts": {...},
     "cursor": "...", "resync": false, "removed": [5, 6]}
    {"type": "ping", "cursor": "..."}

A page carries the cursor of the moment it was rendered and connects with ``?since=<cursor>``;
the first "changes" message after the snapshot is what changed since then (a *catch-up*), and
so is the first one after a reconnect (the browser sends the last cursor it got). Each version of
a job reaches a socket once: the catch-up covers "since" to the catch-up's own read, later batches
are filtered against it until the feed's cursor has passed it. ``resync`` says the server skipped
changes (too many at once, or an unusable cursor): the page should reload. ``removed``, only
present when some were, lists the ids of jobs deleted (by an admin, the API or a prune): their
rows leave the page.

The endpoint lives in :mod:`jobs_admin.live.websocket`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import changes
from .._sqlite_watch import CommitWatch
from . import _reads
from .subscriber import TOO_MANY, Audience, Subscriber, scope_key

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger("jobs_admin.live")

#: Most jobs one read of the feed delivers; past it, browsers are told to resynchronise.
BATCH_LIMIT = 1000
#: Seconds between keep-alive messages to a socket that got nothing else (they carry the cursor).
PING_EVERY = 15.0
#: Fewest seconds between two reads when commits keep waking the feed.
MIN_GAP = 0.05
#: Seconds the feed keeps running after its last socket left (a page reload reconnects).
LINGER = 10.0


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "change_seq"}


class LiveFeed:
    """This process's change feed for one app.

    :param rt: the app's runtime.
    """

    def __init__(self, rt: Runtime) -> None:
        self.Job = rt.Job
        settings = rt.settings
        self.interval = max(settings.live_interval, MIN_GAP)
        self.max_sockets = settings.live_max_sockets
        self.max_per_user = settings.live_max_sockets_per_user
        self.pid = os.getpid()
        # The feed's thread reads without an app context.
        self.engine: sa.Engine = rt.engine
        self.store = rt.store
        self._lock = threading.Lock()
        self._subs: set[Subscriber] = set()
        self._pending: list[Subscriber] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: The feed's cursor: every change before it has been delivered.
        self.cursor: str | None = None
        #: Set once the process's PostgreSQL listener listens on the change channel for us.
        self.listening = threading.Event()
        #: Reads done and SQL statements run since the feed was made (for benchmarks and tests).
        self.reads = 0
        self.queries = 0
        #: The last counts of each audience with a host condition (counted only after changes).
        self._scoped_counts: dict[Audience, dict[str, int]] = {}

    # -- sockets ---------------------------------------------------------------------------

    def subscribe(self, sub: Subscriber) -> None:
        """Add a socket; it gets its snapshot (and catch-up) at the next read, which is now.

        A socket over ``JOBS_ADMIN_LIVE_MAX_SOCKETS`` (this process) or
        ``JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER`` (its user in this process) is not added: it is
        dropped with :data:`TOO_MANY`, and its handler closes it at once.
        """
        with self._lock:
            if self._stopping:
                sub.drop("server stopping")
                return
            if len(self._subs) >= self.max_sockets:
                sub.drop("too many open tabs: the server's limit is reached", TOO_MANY)
                return
            mine = sum(1 for s in self._subs if (s.own or "") == (sub.own or ""))
            if mine >= self.max_per_user:
                sub.drop(f"too many open tabs: at most {self.max_per_user} per user", TOO_MANY)
                return
            self._subs.add(sub)
            self._pending.append(sub)
            self._start()
        self._wake.set()

    def unsubscribe(self, sub: Subscriber) -> None:
        """Remove a socket (its handler ended)."""
        with self._lock:
            self._subs.discard(sub)
            if sub in self._pending:
                self._pending.remove(sub)

    def review(self, sub: Subscriber, sees_all: bool, own: str | None, scope: Any = None) -> None:
        """Change what a socket's user may see (a recheck found other permissions).

        The feed thread applies it before its next read, which is now: one read never mixes
        the old audience's counts with the new one's rows.
        """
        with self._lock:
            same = (sees_all, own, scope_key(scope)) == (sub.sees_all, sub.own, sub.scope_key)
            if same and sub.next_view is None:
                return
            sub.next_view = (sees_all, own, scope)
        self._wake.set()

    @property
    def sockets(self) -> int:
        """How many sockets the feed serves now."""
        return len(self._subs)

    def wake(self) -> None:
        """Read now (this process committed a change)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every socket and stop the threads (tests, and a process that shuts down)."""
        with self._lock:
            self._stopping = True
            subs = list(self._subs)
            thread = self._thread
        for sub in subs:
            sub.drop("server stopping")
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the feed's thread runs in this process."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self.pid == os.getpid()

    def _start(self) -> None:
        # Under self._lock.
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="jobs_admin-live", daemon=True)
        self._thread.start()

    def _notified(self) -> None:
        # In the listener's thread: subscribed (again), or a NOTIFY came.
        self.listening.set()
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        # On SQLite, a commit by another process is seen within milliseconds this way, not at
        # the next poll (PostgreSQL has the listener). Commits of this process also wake us.
        watch = self.store.commit_watch(self.engine)
        unlisten = self.store.listen(self.engine, changes.CHANNEL, self._notified)
        try:
            self._loop(watch)
        finally:
            if unlisten is not None:
                unlisten()
                self.listening.clear()
            if watch is not None:
                watch.close()

    def _loop(self, watch: CommitWatch | None) -> None:
        idle_since: float | None = None
        last_read = 0.0
        backoff = self.interval
        while True:
            with self._lock:
                if self._stopping:
                    self._thread = None
                    return
                if not self._subs:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= LINGER:
                        # Nobody listens: stop reading. The next socket starts a new thread,
                        # and its catch-up covers the time nobody read.
                        self._thread = None
                        self.cursor = None
                        return
                else:
                    idle_since = None
                busy = bool(self._subs)
            if busy:
                gap = MIN_GAP - (time.monotonic() - last_read)
                if gap > 0:
                    time.sleep(gap)
                last_read = time.monotonic()
                self._wake.clear()
                if watch is not None:
                    watch.sync()  # what this read sees need not wake the next one
                try:
                    self._tick()
                    backoff = self.interval
                except Exception:
                    log.exception("jobs_admin live feed could not read changes; retrying")
                    self._wake.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
            if busy and watch is not None:
                watch.wait(self._wake, self.interval, lambda: self._stopping)
            else:
                self._wake.wait(self.interval if busy else 1.0)

    def _tick(self) -> None:
        with self._lock:
            for sub in self._subs:
                if sub.next_view is not None:
                    (sub.sees_all, sub.own, sub.scope), sub.next_view = sub.next_view, None
                    sub.scope_key = scope_key(sub.scope)
            subs = [s for s in self._subs if s not in self._pending]
            pending, self._pending = self._pending, []
        try:
            self._read(subs, pending)
        except Exception:
            with self._lock:
                # Not served yet: they get their snapshot at the next read.
                self._pending[:0] = [s for s in pending if s in self._subs]
            raise

    def _read(self, subs: list[Subscriber], pending: list[Subscriber]) -> None:
        store = self.store
        with self.engine.connect() as conn:
            sa.event.listen(conn, "before_cursor_execute", self._count_query)
            if self.cursor is None:
                self.cursor = store.change_cursor(conn)
            batch = changes.read(
                conn, store.jobs, self.cursor, limit=BATCH_LIMIT, removals=store.removals
            )
            everyone = subs + pending
            scopes = {s.scope_key: s.scope for s in everyone if s.scope_key is not None}
            counts, self._scoped_counts = _reads.counts(
                conn,
                self.store,
                self.Job,
                {sub.audience for sub in everyone},
                scopes,
                self._scoped_counts,
                changed=bool(batch.jobs),
            )
            catch_ups: dict[tuple[str, str | None], changes.Batch | None] = {}
            for sub in pending:
                if sub.since and changes.valid(sub.since, self.store.dialect):
                    who = sub.who
                    key = (sub.since, who)
                    if key not in catch_ups:
                        catch_ups[key] = _reads.catch_up(
                            conn, self.store, sub.since, who, batch.cursor
                        )
            allowed = _reads.allowed(conn, self.Job, scopes, [batch, *catch_ups.values()])
            conn.rollback()
        self.reads += 1
        cursor = batch.cursor
        self._serve_pending(pending, counts, catch_ups, cursor, allowed)
        self._fan_out(subs, batch, counts, cursor, allowed)
        self.cursor = cursor

    def _count_query(self, *_args: Any) -> None:
        self.queries += 1

    def _serve_pending(
        self,
        pending: list[Subscriber],
        counts: dict[Audience, dict[str, int]],
        catch_ups: dict[tuple[str, str | None], changes.Batch | None],
        cursor: str,
        allowed: dict[str, set[int]],
    ) -> None:
        for sub in pending:
            found = None
            resync = False
            if sub.since:
                found = catch_ups.get((sub.since, sub.who))
                resync = found is None or found.overflow
            here = cursor
            if found is not None:
                # The catch-up read after the feed's own read: later on PostgreSQL (a newer
                # snapshot), the higher number on SQLite.
                here = changes.later(cursor, found.cursor)
                sub.skip = here
            audience_counts = counts.get(sub.audience, {})
            sub.offer(
                _encode(
                    {
                        "type": "snapshot",
                        "counts": audience_counts,
                        "cursor": here,
                        "resync": resync,
                    }
                )
            )
            sub.last_counts = audience_counts
            if found is not None and (found.jobs or found.removed):
                jobs = [_public(j) for j in found.jobs if sub.visible(j, allowed)]
                removed = [r["id"] for r in found.removed if sub.sees_removal(r)]
                if jobs or removed:
                    message = {
                        "type": "changes",
                        "jobs": jobs,
                        "counts": audience_counts,
                        "cursor": here,
                        "resync": False,
                    }
                    if removed:
                        message["removed"] = removed
                    sub.offer(_encode(message))

    def _fan_out(
        self,
        subs: list[Subscriber],
        batch: changes.Batch,
        counts: dict[Audience, dict[str, int]],
        cursor: str,
        allowed: dict[str, set[int]],
    ) -> None:
        Rows = list[dict[str, Any]]
        encoded: dict[Audience, tuple[Rows, Rows, str]] = {}
        now = time.monotonic()

        def message(rows: Rows, removed: Rows, audience_counts: dict[str, int]) -> str:
            out: dict[str, Any] = {
                "type": "changes",
                "jobs": [_public(j) for j in rows],
                "counts": audience_counts,
                "cursor": cursor,
                "resync": batch.overflow,
            }
            if removed:
                out["removed"] = [r["id"] for r in removed]
            return _encode(out)

        for sub in subs:
            audience = sub.audience
            audience_counts = counts.get(audience, {})
            if sub.skip is not None and changes.covers(cursor, sub.skip):
                sub.skip = None
            if audience not in encoded:
                rows = [j for j in batch.jobs if sub.visible(j, allowed)]
                gone = [r for r in batch.removed if sub.sees_removal(r)]
                encoded[audience] = (rows, gone, message(rows, gone, audience_counts))
            rows, gone, text = encoded[audience]
            if sub.skip is not None:
                skip = sub.skip
                mine = [j for j in rows if not changes.seen(skip, j["change_seq"])]
                left = [r for r in gone if not changes.seen(skip, r["change_seq"])]
                if len(mine) != len(rows) or len(left) != len(gone):
                    rows, gone = mine, left
                    text = message(rows, gone, audience_counts)
            if rows or gone or batch.overflow or audience_counts != sub.last_counts:
                sub.offer(text)
                sub.last_counts = audience_counts
            elif now - sub.last_sent >= PING_EVERY:
                sub.offer(_encode({"type": "ping", "cursor": cursor}))
