"""APScheduler wiring: dispatcher, heartbeat, rescue and the schedules' ticker in one process."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerPool
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from ._ends import MAX_FINISH_BATCH, EndWriter
from ._process import before_pools_exit, worker_name
from ._sqlite_watch import CommitWatch
from ._ticker import Ticker
from ._worker_control import CONTROL_INTERVAL, Control
from .context import JobContext
from .registry import JobType
from .runner import SHUTDOWN, run_job
from .service import rescue
from .store import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("jobs_admin.worker")

#: Most jobs a worker claims ahead of its free threads, per thread, however short its jobs.
MAX_AHEAD_PER_THREAD = 64

# APScheduler logs every run of an interval job at INFO; the dispatcher runs every second.
_EXECUTOR = "jobs_admin"
logging.getLogger(f"apscheduler.executors.{_EXECUTOR}").setLevel(logging.WARNING)


class Worker:
    """Runs jobs for one app in this process: one scheduler, one pool of job threads.

    :param rt: the app's runtime.
    :param concurrency: how many jobs run at once.
    """

    def __init__(self, rt: Runtime, concurrency: int | None = None) -> None:
        settings = rt.settings
        self.rt = rt
        self.app = rt.app
        self.settings = settings
        self.concurrency = concurrency or settings.concurrency
        self.name = worker_name()
        self.pid = os.getpid()
        self._running: dict[int, JobContext | None] = {}
        # Jobs whose function returned and whose end waits for the group commit.
        self._ends = EndWriter(rt, self.name, self._written, settings.shutdown_grace)
        # Mean seconds a job ran, from the last ones (an exponential moving average).
        self._run_seconds: float | None = None
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._watch: CommitWatch | None = None
        self._stopping = False
        self._stopped = threading.Event()
        self._unlisten: Callable[[], None] | None = None
        self._ticker = Ticker(rt)
        #: Its record, the state admins ask of it, the paused and limited types.
        self.control = Control(self)
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

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` has finished (asked by a signal, the app or an admin)."""
        return self._stopped.is_set()

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
        add(self.control.tick, "interval", seconds=CONTROL_INTERVAL, id="jobs_admin.control",
            executor=_EXECUTOR)  # fmt: skip
        self.control.start()
        self.scheduler.start()
        store, engine = self.rt.store, self.rt.engine
        self._watch = store.commit_watch(engine)
        self._ends.start()
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="jobs_admin-dispatch", daemon=True
        )
        self._dispatcher.start()
        # Schedules (the housekeeping among them) fire from every process with a worker.
        self._ticker.start()
        # Anything may have been enqueued while we were not listening: a (re)connection
        # wakes the dispatcher too.
        self._unlisten = store.listen(engine, NOTIFY_CHANNEL, self.wake)
        ref = weakref.ref(self)
        before_pools_exit(lambda: (w := ref()) is not None and w.stop(wait=True))
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
        self.control.stopping()
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            # Let a claim under way finish before the pool closes (it is one short statement).
            self._dispatcher.join(10)
        # The rescue and the schedules stop now; the heartbeat goes on until the jobs
        # have handed themselves back or the grace is over, so no other worker's rescue
        # takes a job this one still runs.
        for task in ("jobs_admin.rescue", "jobs_admin.control"):
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(task)
        self._ticker.stop()
        for _job_id, ctx in list(self._running.items()):
            job_type = self._job_type(ctx)
            if ctx is not None and job_type is not None and job_type.cancellable:
                ctx.request_stop(SHUTDOWN)
        # Jobs claimed ahead that no thread has started go back to the queue now.
        unstarted = [i for i, f in list(self._futures.items()) if f.cancel()]
        with self._lock:
            for job_id in unstarted:
                self._running.pop(job_id, None)
        left: list[int] = []
        if wait:
            deadline = time.monotonic() + (self.settings.shutdown_grace if grace is None else grace)
            while self._running and time.monotonic() < deadline:
                time.sleep(0.05)
            left = self.running_ids()
            if left:
                log.warning(
                    "jobs_admin worker %s stopped with jobs still running: %s; their heartbeats"
                    " stop now and the rescue settles them after JOBS_ADMIN_STALE_AFTER",
                    self.name,
                    left,
                )
        queued = dict(self._futures)
        self._pool.shutdown(wait=False, cancel_futures=True)
        # The ends of jobs that returned are written before the worker lets go of them.
        self._ends.stop()
        with contextlib.suppress(SchedulerNotRunningError):
            # Last, so the heartbeat ran while the jobs handed themselves back; a heartbeat
            # under way finishes (it is one short statement).
            self.scheduler.shutdown(wait=True)
        if self._watch is not None:
            self._watch.close()
        if self._unlisten is not None:
            self._unlisten()
        # Claimed jobs whose run never began (queued behind the grace period) go back now
        # rather than waiting for the rescue.
        unstarted += [i for i, f in queued.items() if f.cancelled() and i not in unstarted]
        if unstarted:
            with contextlib.suppress(Exception):
                self._hand_back(unstarted)
        left = [i for i in left if i not in unstarted]
        self.control.stopped()
        self._stopped.set()
        return left

    def _job_type(self, ctx: JobContext | None) -> JobType | None:
        if ctx is None:
            return None
        try:
            return self.rt.registry.get(ctx.job_type)
        except LookupError:
            return None

    # -- what the tasks do -----------------------------------------------------------------

    def running_ids(self) -> list[int]:
        """Ids of the jobs this worker runs now."""
        with self._lock:
            return sorted(self._running)

    def owned_ids(self) -> list[int]:
        """Ids of the jobs this worker holds: running, claimed ahead, or with an end unwritten."""
        with self._lock:
            running = set(self._running)
        return sorted(running | self._ends.ids())

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
                room, hungry = self._room()
                claimed = self._claim_once(room) if room > 0 else 0
                backoff = self.settings.poll_interval
            except Exception:
                log.exception("jobs_admin dispatcher could not claim jobs; retrying")
                self._wake.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if room > 0 and claimed == room:
                continue  # There may be more due jobs; claim again when there is room.
            self._idle(hungry)

    def _room(self) -> tuple[int, bool]:
        """How many jobs to claim now, and whether a thread is idle.

        Beyond the free threads, a worker claims :meth:`_ahead` more, and tops that reserve up
        only once half of it is used, so that short jobs are claimed in batches, not one by one.
        """
        with self._lock:
            inflight = len(self._running)
        if self._ends.backlog >= MAX_FINISH_BATCH:
            return 0, False  # The ends are not being written (database down?): wait.
        free = self.concurrency - inflight
        ahead = self._ahead()
        room = self.concurrency + ahead - inflight
        if free > 0 or room >= max(1, (ahead + 1) // 2):
            return max(room, 0), free > 0
        return 0, False

    def _ahead(self) -> int:
        """Jobs to claim beyond the free threads: ``JOBS_ADMIN_CLAIM_AHEAD`` seconds of work."""
        mean = self._run_seconds
        if mean is None or self.settings.claim_ahead <= 0:
            return 0
        n = int(self.concurrency * self.settings.claim_ahead / max(mean, 1e-5))
        return min(n, self.concurrency * MAX_AHEAD_PER_THREAD)

    def _idle(self, hungry: bool) -> None:
        """Wait for a wake-up or the poll interval.

        On SQLite, while threads are free, also watch ``PRAGMA data_version``: it changes when
        any other connection (another process too) commits, so a job enqueued elsewhere is
        picked up within :data:`jobs_admin._sqlite_watch.EVERY` seconds rather than at the next
        poll. PostgreSQL has ``LISTEN/NOTIFY`` for that.
        """
        interval = self.settings.poll_interval
        if not hungry or self._watch is None:
            self._wake.wait(interval)
            return
        self._watch.wait(self._wake, interval, lambda: self._stopping)

    def _claim_once(self, limit: int) -> int:
        if limit <= 0 or self._stopping or self.control.quiet:
            return 0
        with self._lock:
            free = self.concurrency - len(self._running)
        with self.app.app_context(), self.rt.connections.write() as conn:
            rows = self.control.claim(conn, limit, free)
        for row in rows:
            job_id = row["id"]
            with self._lock:
                self._running[job_id] = None
            try:
                future = self._pool.submit(self._run, job_id, row)
            except RuntimeError:
                # The pool shut down while we claimed (a stop raced us): give the job back.
                self._hand_back([job_id])
                continue
            self._futures[job_id] = future
            future.add_done_callback(functools.partial(self._forget, job_id))
        return len(rows)

    def _forget(self, job_id: int, _future: Future[None]) -> None:
        self._futures.pop(job_id, None)

    def _hand_back(self, ids: list[int]) -> None:
        """Return claimed jobs that never started to the queue, their attempt refunded."""
        with self.app.app_context(), self.rt.connections.write() as conn:
            store = self.rt.store
            for job_id in ids:
                store.hand_back(conn, job_id, self.name)
            store.notify_pending(conn)
        with self._lock:
            for job_id in ids:
                self._running.pop(job_id, None)

    def _run(self, job_id: int, row: dict[str, Any]) -> None:
        if self.control.held(row):  # claimed ahead, and its type was paused since
            with contextlib.suppress(Exception):
                self._hand_back([job_id])
            return
        started = time.perf_counter()
        try:
            run_job(self.rt, job_id, self.name, self._register, row=row, defer=self._ends.defer)
        except Exception:
            log.exception("jobs_admin could not record the end of job %s", job_id)
        finally:
            seconds = time.perf_counter() - started
            mean = self._run_seconds
            self._run_seconds = seconds if mean is None else 0.9 * mean + 0.1 * seconds
            with self._lock:
                self._running.pop(job_id, None)
            if not self._stopping:
                self.wake()

    def _written(self) -> None:
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

    def _heartbeat(self) -> None:
        ids = self.owned_ids()
        if not ids:
            return
        with self.app.app_context(), self.rt.connections.write() as conn:
            cancel = self.rt.store.heartbeat(conn, self.name, ids)
        for job_id in cancel:
            ctx = self._running.get(job_id)
            if ctx is not None:
                ctx.request_stop("cancelled")

    def _rescue(self) -> None:
        with self.app.app_context():
            rescue(self.rt)
