"""A worker's record and steering: its row in ``jobs_admin_worker``, the state admins ask of it
(quiet, stop), and the paused and limited types its claims respect.

Every :data:`CONTROL_INTERVAL` seconds the worker reads its row's state and the restricted
types (two reads of tiny tables); every heartbeat interval it writes its heartbeat instead. So a
request made on any machine reaches it within about half a second, and a pause within the same.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from .flow_models import WORKER_QUIET, WORKER_RUNNING, WORKER_STOPPING
from .service import _flow
from .store.flow import Restrictions

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("jobs_admin.worker")

#: Seconds between two reads of a worker's requested state and of the restricted types.
CONTROL_INTERVAL = 0.5

#: Most seconds a claim trusts the restricted types it read last: older, it reads them again in
#: its own transaction (a control tick may be late on a busy machine; a pause must be seen
#: within a second).
RESTRICTIONS_TTL = 0.25

#: Set by ``flask jobs worker`` before it starts its worker: the record says "cli".
CLI_WORKER = {"on": False}


def package_version() -> str | None:
    """jobs_admin's installed version, if known."""
    try:
        from importlib.metadata import version

        return version("jobs-admin")
    except Exception:
        return None


class Control:
    """The steering of one :class:`~jobs_admin.worker.Worker`.

    :param worker: the worker it steers.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.rt = worker.rt
        self.state = WORKER_RUNNING
        self.restrictions = Restrictions()
        self._read_at = 0.0
        self._wake_due: float | None = None
        self._beat_at = 0.0
        self._stop_thread: threading.Thread | None = None

    @property
    def quiet(self) -> bool:
        """Whether the worker claims nothing now (quiet, or stopping)."""
        return self.state != WORKER_RUNNING

    def start(self) -> None:
        """Record the worker, write the limits declared in code, read the restrictions.

        A failure (the database down, the tables of ``jobs_admin_0009`` missing) is logged and
        the worker starts anyway: its control tick records it once it can, and its claims fail
        (logged, retried) until the restricted types can be read.
        """
        try:
            self._record()
        except Exception:
            log.exception(
                "jobs_admin worker %s could not record itself (are the migrations up to date?)",
                self.worker.name,
            )
        self._beat_at = self._read_at = time.monotonic()

    def _record(self) -> None:
        w = self.worker
        with w.app.app_context():
            _flow.sync_declared(self.rt)
            with self.rt.connections.write() as conn:
                self.rt.store.register_worker(
                    conn,
                    name=w.name,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    version=package_version(),
                    embedded=not CLI_WORKER["on"],
                    threads=w.concurrency,
                )
            self.restrictions = _flow.restrictions(self.rt)

    def tick(self) -> None:
        """Read (or, once per heartbeat interval, write) the worker's row and obey its state;
        refresh the restricted types."""
        w = self.worker
        store = self.rt.store
        with w.app.app_context():
            now = time.monotonic()
            if now - self._beat_at >= w.settings.heartbeat_interval:
                with self.rt.connections.write() as conn:
                    state = store.worker_beat(conn, w.name, len(w.running_ids()))
                self._beat_at = now
            else:
                with self.rt.engine.connect() as conn:
                    state = store.worker_state(conn, w.name)
            read_at = time.monotonic()
            restrictions = _flow.restrictions(self.rt)
        was_paused = self.restrictions.paused
        self.restrictions, self._read_at = restrictions, read_at
        if state is None:
            # The row went (removed as lost after a long silence): record the worker again.
            log.warning("jobs_admin worker %s lost its record; recording it again", w.name)
            self.start()
            return
        self._obey(state)
        if was_paused - restrictions.paused:
            w.wake()  # a type was resumed

    def _obey(self, state: str) -> None:
        w = self.worker
        if state == self.state:
            return
        log.info("jobs_admin worker %s: %s -> %s", w.name, self.state, state)
        self.state = state
        if state == WORKER_RUNNING:
            w.wake()
        elif state == WORKER_STOPPING and self._stop_thread is None:
            # Not in the scheduler's thread: the stop shuts the scheduler down and waits.
            self._stop_thread = threading.Thread(target=w.stop, name="jobs_admin-stop", daemon=True)
            self._stop_thread.start()

    def held(self, row: dict[str, Any]) -> bool:
        """Whether a job claimed ahead must not start: its type was paused since."""
        return row.get("type") in self.restrictions.paused

    def claim(self, conn: Any, limit: int, free: int) -> list[dict[str, Any]]:
        """Claim within the pauses and limits (see :func:`jobs_admin.service._flow.claim`)."""
        if self.quiet:
            return []
        now = time.monotonic()
        if now - self._read_at > RESTRICTIONS_TTL:
            self.restrictions, self._read_at = self.rt.store.restrictions(conn), now
        rows, retry = _flow.claim_within_limits(
            self.rt, conn, self.worker.name, limit, free, self.restrictions
        )
        if retry is not None:
            self._wake_in(retry)
        return rows

    def _wake_in(self, seconds: float) -> None:
        """Wake the dispatcher in ``seconds`` (once: a later wake-up replaces none sooner)."""
        due = time.monotonic() + seconds
        if self._wake_due is not None and self._wake_due <= due:
            return
        self._wake_due = due

        def wake() -> None:
            self._wake_due = None
            self.worker.wake()

        timer = threading.Timer(seconds, wake)
        timer.daemon = True
        timer.start()

    def stopping(self) -> None:
        """The worker begins to stop: its record says so (best effort)."""
        self.state = WORKER_STOPPING
        try:
            with self.worker.app.app_context(), self.rt.connections.write() as conn:
                self.rt.store.set_worker_state(
                    conn,
                    self.worker.name,
                    WORKER_STOPPING,
                    "shutdown",
                    only_from=(WORKER_RUNNING, WORKER_QUIET),
                )
        except Exception:
            log.exception("jobs_admin could not record the stop of worker %s", self.worker.name)

    def stopped(self) -> None:
        """The worker stopped: its record goes (best effort)."""
        try:
            with self.worker.app.app_context(), self.rt.connections.write() as conn:
                self.rt.store.remove_worker(conn, self.worker.name)
        except Exception:
            log.exception("jobs_admin could not remove the record of worker %s", self.worker.name)
