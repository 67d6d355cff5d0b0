"""The worker's group commit: successful ends of many jobs written in one transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import signals
from .runner import send_signal
from .store import Finish

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("jobs_admin.worker")

#: Most successful ends written in one transaction by the worker's group commit.
MAX_FINISH_BATCH = 500


class EndWriter:
    """Writes queued successful ends, all that queued up meanwhile in one transaction, then
    sends ``job_finished`` for them.

    One commit for many jobs is what lets short jobs run at a thousand a second; a job that used
    ``db.session`` still commits its work and its end together (the runner). A job whose end is
    queued is still its worker's (heartbeated, never rescued) until the end is written.

    :param rt: the app's runtime.
    :param worker: the worker's name; every end checks the job is still its.
    :param written: called after each written batch (the worker claims again).
    :param grace: seconds :meth:`stop` waits for the queue to drain (at least 10).
    """

    def __init__(self, rt: Runtime, worker: str, written: Callable[[], None], grace: float) -> None:
        self.rt = rt
        self.worker = worker
        self._written = written
        self._grace = max(grace, 10.0)
        self._ending: list[Finish] = []
        self._ids: set[int] = set()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="jobs_admin-end", daemon=True)

    def start(self) -> None:
        """Start the thread that writes the ends."""
        self._thread.start()

    @property
    def backlog(self) -> int:
        """How many ends wait to be written."""
        with self._cv:
            return len(self._ending)

    def ids(self) -> set[int]:
        """The ids of the jobs whose end waits to be written."""
        with self._cv:
            return set(self._ids)

    def defer(self, end: Finish) -> None:
        """Queue a successful end (called by the runner)."""
        with self._cv:
            if not self._stop:
                self._ending.append(end)
                self._ids.add(end.job_id)
                self._cv.notify()
                return
        # A job that outlived its worker's stop: nobody writes ends in batches any more.
        self.write([end])

    def stop(self) -> None:
        """Write the ends still queued, then stop the thread that writes them."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self._grace)

    def _loop(self) -> None:
        failures = 0
        while True:
            with self._cv:
                while not self._ending and not self._stop:
                    self._cv.wait()
                if not self._ending:
                    return
                batch = self._ending[:MAX_FINISH_BATCH]
                del self._ending[: len(batch)]
            try:
                self.write(batch)
            except Exception:
                failures += 1
                log.exception("jobs_admin could not write the end of %d job(s)", len(batch))
                with self._cv:
                    self._ending[:0] = batch
                    if self._stop and failures >= 3:
                        # Still theirs in the database: the rescue runs them again.
                        log.error(
                            "jobs_admin gave up writing the ends of jobs %s",
                            [e.job_id for e in self._ending],
                        )
                        self._ending.clear()
                        self._ids.clear()
                        self._cv.notify_all()
                        return
                time.sleep(min(0.1 * 2**failures, 5.0))
                continue
            failures = 0
            with self._cv:
                self._ids.difference_update(e.job_id for e in batch)
                self._cv.notify_all()
            self._written()

    def write(self, batch: list[Finish]) -> None:
        """Write ``batch`` in one transaction and send ``job_finished`` for each job written."""
        rt = self.rt
        with rt.app.app_context():
            with rt.connections.write() as conn:
                done = rt.store.finish_many(conn, self.worker, batch)
            if len(done) < len(batch):
                lost = sorted({e.job_id for e in batch} - set(done))
                log.warning(
                    "jobs %s were taken from worker %s before they ended; results dropped",
                    lost,
                    self.worker,
                )
            if done and signals.job_finished.receivers:
                try:
                    for job in rt.snapshots(done):
                        send_signal(signals.job_finished, rt.app, job)
                finally:
                    rt.db.session.remove()
