"""APScheduler wiring: dispatcher, heartbeat, rescue and housekeeping in one process."""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerPool
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.engine import URL

from .config import crontab_trigger
from .context import JobContext
from .models import EventKind, JobStatus
from .registry import JobType
from .runner import SHUTDOWN, run_job
from .store import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from .extension import JobsAdmin

log = logging.getLogger("jobs_admin.worker")

#: Seconds between two looks at SQLite's ``PRAGMA data_version`` while the dispatcher idles.
SQLITE_WATCH = 0.05

# APScheduler logs every run of an interval job at INFO; the dispatcher runs every second.
_EXECUTOR = "jobs_admin"
logging.getLogger(f"apscheduler.executors.{_EXECUTOR}").setLevel(logging.WARNING)


def worker_name() -> str:
    """A name unique to this process: host, pid and a random tag (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs jobs for one app in this process: one scheduler, one pool of job threads.

    :param app: the host app.
    :param jobs: its extension.
    :param concurrency: how many jobs run at once.
    """

    def __init__(self, app: Flask, jobs: JobsAdmin, concurrency: int | None = None) -> None:
        settings = jobs.settings(app)
        self.app = app
        self.jobs = jobs
        self.settings = settings
        self.concurrency = concurrency or settings.concurrency
        self.name = worker_name()
        self.pid = os.getpid()
        self._running: dict[int, JobContext | None] = {}
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._watch: Any = None
        self._watch_version: int | None = None
        self._stopping = False
        self._stopped = threading.Event()
        self._listener: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="jobs_admin-job")
        self.scheduler = BackgroundScheduler(
            executors={_EXECUTOR: SchedulerPool(3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the scheduler runs in this process and has not been stopped."""
        return self.scheduler.running and not self._stopping and self.pid == os.getpid()

    def start(self) -> None:
        """Start the scheduler and its tasks (call once; :class:`JobsAdmin` makes sure)."""
        s = self.settings
        add = self.scheduler.add_job
        add(
            self._heartbeat,
            "interval",
            seconds=s.heartbeat_interval,
            id="jobs_admin.heartbeat",
            executor=_EXECUTOR,
        )
        add(
            self._rescue,
            "interval",
            seconds=max(1.0, min(s.heartbeat_interval, s.stale_after / 2)),
            id="jobs_admin.rescue",
            executor=_EXECUTOR,
            next_run_time=datetime.now(UTC),
        )
        if s.housekeeping_cron:
            add(
                self._housekeeping,
                crontab_trigger(s.housekeeping_cron),
                id="jobs_admin.housekeeping",
                executor=_EXECUTOR,
            )
        self.scheduler.start()
        with self.app.app_context():
            url = self.jobs.db.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            # A connection of the dispatcher's own, outside the pool, for the watch.
            self._watch = sqlite3.connect(url.database, check_same_thread=False)
            self._watch_version = self._watch.execute("PRAGMA data_version").fetchone()[0]
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="jobs_admin-dispatch", daemon=True
        )
        self._dispatcher.start()
        with self.app.app_context():
            url = self.jobs.db.engine.url
        if url.get_backend_name() == "postgresql":
            self._listener = threading.Thread(
                target=self._listen, args=(url,), name="jobs_admin-listen", daemon=True
            )
            self._listener.start()
        ref = weakref.ref(self)
        atexit.register(lambda: (w := ref()) is not None and w.stop(wait=True))
        log.info("jobs_admin worker %s started with %d threads", self.name, self.concurrency)

    def stop(self, wait: bool = True, grace: float | None = None) -> list[int]:
        """Stop claiming, ask cancellable jobs to hand themselves back, wait for the rest.

        :param wait: wait up to ``grace`` seconds for running jobs to end.
        :param grace: seconds to wait; defaults to ``JOBS_ADMIN_SHUTDOWN_GRACE``.
        :returns: ids of jobs still running when it gave up waiting (the rescue settles them).
        """
        with self._lock:
            if self._stopping:
                already = True
            else:
                already = False
                self._stopping = True
                self._wake.set()
        if already:
            self._stopped.wait(self.settings.shutdown_grace if wait else 0)
            return self.running_ids()
        if self.pid != os.getpid():
            return []
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            # Let a claim under way finish before the pool closes (it is one short statement).
            self._dispatcher.join(10)
        with contextlib.suppress(Exception):
            # Pause first so the scheduler thread submits nothing more, then let the
            # dispatcher and heartbeat runs already under way finish (they are short).
            self.scheduler.pause()
            self.scheduler.shutdown(wait=True)
        for _job_id, ctx in list(self._running.items()):
            job_type = self._job_type(ctx)
            if ctx is not None and job_type is not None and job_type.cancellable:
                ctx.request_stop(SHUTDOWN)
        left: list[int] = []
        if wait:
            deadline = time.monotonic() + (self.settings.shutdown_grace if grace is None else grace)
            while self._running and time.monotonic() < deadline:
                time.sleep(0.05)
            left = self.running_ids()
            if left:
                log.warning(
                    "jobs_admin worker %s stopped with jobs still running: %s", self.name, left
                )
        queued = dict(self._futures)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._watch is not None:
            with contextlib.suppress(Exception):
                self._watch.close()
        # Claimed jobs whose run never began (queued behind the grace period) go back now
        # rather than waiting for the rescue.
        unstarted = [i for i, f in queued.items() if f.cancelled()]
        if unstarted:
            with contextlib.suppress(Exception):
                self._hand_back(unstarted)
        left = [i for i in left if i not in unstarted]
        self._stopped.set()
        return left

    def _job_type(self, ctx: JobContext | None) -> JobType | None:
        if ctx is None:
            return None
        try:
            return self.jobs.registry.get(ctx.job_type)
        except LookupError:
            return None

    # -- what the tasks do -----------------------------------------------------------------

    def running_ids(self) -> list[int]:
        """Ids of the jobs this worker runs now."""
        with self._lock:
            return sorted(self._running)

    def context(self, job_id: int) -> JobContext | None:
        """The context of a job this worker runs, if it runs it."""
        return self._running.get(job_id)

    def wake(self) -> None:
        """Make the dispatcher look for work now (after a local enqueue or a finished job)."""
        self._wake.set()

    def _dispatch_loop(self) -> None:
        """Claim jobs for free threads: at once when woken, else every ``POLL_INTERVAL``.

        A thread of its own rather than an APScheduler interval job: a wake-up must never be
        dropped because the previous run is still counted as running.
        """
        backoff = self.settings.poll_interval
        while not self._stopping:
            self._wake.clear()
            try:
                with self._lock:
                    free = self.concurrency - len(self._running)
                claimed = self._claim_once() if free > 0 else 0
                backoff = self.settings.poll_interval
            except Exception:
                log.exception("jobs_admin dispatcher could not claim jobs; retrying")
                claimed, free = 0, 1
                self._wake.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if free > 0 and claimed == free:
                continue  # There may be more due jobs; claim again when a thread frees up.
            self._idle(free > 0)

    def _idle(self, hungry: bool) -> None:
        """Wait for a wake-up or the poll interval.

        On SQLite, while threads are free, also watch ``PRAGMA data_version``: it changes when
        any other connection (another process too) commits, so a job enqueued elsewhere is
        picked up within :data:`SQLITE_WATCH` seconds rather than at the next poll. PostgreSQL
        has ``LISTEN/NOTIFY`` for that.
        """
        interval = self.settings.poll_interval
        if not hungry or self._watch is None:
            self._wake.wait(interval)
            return
        deadline = time.monotonic() + interval
        while not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.wait(min(SQLITE_WATCH, left)):
                return
            try:
                version = self._watch.execute("PRAGMA data_version").fetchone()[0]
            except Exception:  # a broken watch connection: poll as usual
                self._watch = None
                self._wake.wait(max(0.0, deadline - time.monotonic()))
                return
            if version != self._watch_version:
                self._watch_version = version
                return

    def _claim_once(self) -> int:
        with self._lock:
            free = self.concurrency - len(self._running)
        if free <= 0 or self._stopping:
            return 0
        with self.app.app_context(), self.jobs.db.engine.begin() as conn:
            ids = self.jobs.store.claim(conn, self.name, free)
        for job_id in ids:
            with self._lock:
                self._running[job_id] = None
            try:
                future = self._pool.submit(self._run, job_id)
            except RuntimeError:
                # The pool shut down while we claimed (a stop raced us): give the job back.
                self._hand_back([job_id])
                continue
            self._futures[job_id] = future
            future.add_done_callback(functools.partial(self._forget, job_id))
        return len(ids)

    def _forget(self, job_id: int, _future: Future[None]) -> None:
        self._futures.pop(job_id, None)

    def _hand_back(self, ids: list[int]) -> None:
        """Return claimed jobs that never started to the queue, their attempt refunded."""
        j = self.jobs.store.jobs
        with self.app.app_context(), self.jobs.db.engine.begin() as conn:
            for job_id in ids:
                got = self.jobs.store.finish(
                    conn,
                    job_id,
                    self.name,
                    JobStatus.PENDING,
                    {"worker": None, "heartbeat_at": None, "attempts": j.c.attempts - 1},
                )
                if got is not None:
                    self.jobs.store.event(
                        conn,
                        job_id,
                        EventKind.STATUS,
                        "handed back to the queue at worker shutdown (not started)",
                        data={"status": "pending"},
                    )
            self.jobs.store.notify_pending(conn)
        with self._lock:
            for job_id in ids:
                self._running.pop(job_id, None)

    def _run(self, job_id: int) -> None:
        try:
            run_job(self.app, self.jobs, job_id, self.name, self._register)
        except Exception:
            log.exception("jobs_admin could not record the end of job %s", job_id)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            if not self._stopping:
                self.wake()

    def _register(self, job_id: int, ctx: JobContext | None) -> None:
        with self._lock:
            if ctx is None:
                self._running.pop(job_id, None)
                return
            self._running[job_id] = ctx
            stopping = self._stopping
        # A job claimed just before stop() whose context did not exist yet when stop() asked
        # the running ones to hand themselves back: ask it now, or stop() waits it out.
        job_type = self._job_type(ctx)
        if stopping and job_type is not None and job_type.cancellable:
            ctx.request_stop(SHUTDOWN)

    def _listen(self, url: URL) -> None:
        """Wake the dispatcher on PostgreSQL ``NOTIFY``; reconnect with backoff when cut off."""
        import psycopg

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.5
        while not self._stopping:
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    delay = 0.5
                    # Anything may have been enqueued while we were not listening.
                    self.wake()
                    while not self._stopping:
                        for _ in conn.notifies(timeout=1.0):
                            self.wake()
            except Exception as exc:
                if self._stopping:
                    return
                log.warning(
                    "jobs_admin listener lost its connection (%s); retrying in %.1f s", exc, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _heartbeat(self) -> None:
        ids = self.running_ids()
        if not ids:
            return
        with self.app.app_context(), self.jobs.db.engine.begin() as conn:
            cancel = self.jobs.store.heartbeat(conn, self.name, ids)
        for job_id in cancel:
            ctx = self._running.get(job_id)
            if ctx is not None:
                ctx.request_stop("cancelled")

    def _rescue(self) -> None:
        with self.app.app_context():
            self.jobs.rescue()

    def _housekeeping(self) -> None:
        with self.app.app_context():
            n = self.jobs.prune(wait=False)
            log.info("jobs_admin housekeeping deleted %d finished job(s)", n)
