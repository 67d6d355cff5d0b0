"""The thread that fires schedules in a process that runs the worker.

It stores the declared schedules once, then sleeps until the earliest due tick (or the poll
interval, whichever comes first: another process or an admin may change the schedules) and
fires what is due (:func:`jobs_admin.service.fire_due`). Every process with a worker runs one;
the database makes each tick fire once.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from .models import utcnow

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("jobs_admin.schedules")

#: Longest sleep between two looks at the schedules, in seconds.
MAX_SLEEP = 1.0


class Ticker:
    """Fires this app's due schedules from a thread of its own.

    :param rt: the app's runtime.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._loop, name="jobs_admin-ticker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a batch under way finishes: it is one short transaction)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        from . import service

        rt = self.rt
        backoff = 1.0
        while not self._stop.is_set():
            try:
                with rt.app.app_context():
                    service.sync_schedules(rt)
                    # A read first: the write transaction (SQLite's write lock) only when due.
                    nxt = service.next_schedule_due(rt)
                    if nxt is not None and nxt <= utcnow():
                        service.fire_due(rt)
                        nxt = service.next_schedule_due(rt)
                backoff = 1.0
            except Exception:
                log.exception("jobs_admin could not fire schedules; retrying")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            sleep = min(MAX_SLEEP, rt.settings.poll_interval or MAX_SLEEP)
            if nxt is not None:
                sleep = min(sleep, max(0.0, (nxt - utcnow()).total_seconds()))
            self._stop.wait(sleep)
