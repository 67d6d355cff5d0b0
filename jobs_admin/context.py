"""The :class:`JobContext` a running job receives as its first argument."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._filenames import result_name
from .config import MAX_LOG_LINES
from .errors import JobCancelled
from .models import ITEM_EVENT, EventKind, ItemOutcome
from .registry import storable
from .store.items import item_event

#: Writes buffered progress: True when written, False when this worker no longer owns the
#: job, None when the database is busy (the values stay buffered for the next flush).
Flush = Callable[[dict[str, Any], list[dict[str, Any]]], bool | None]

#: The stop reason of a job whose worker lost it to the rescue of another process.
LOST = "the worker lost this job to another"

_LEVELS = frozenset({"debug", "info", "warning", "error"})

#: Most log lines held in memory unwritten. While the database is busy (SQLite locked) the
#: lines wait in memory for the next flush; beyond this many, further lines are dropped and
#: counted, so that a job logging in a tight loop cannot grow its process without bound.
PENDING_LOG_LINES = 1000

#: Recorded items buffered before a flush is due whatever the progress interval: a job
#: reporting items in a tight loop writes them in batches of about this many.
ITEM_BATCH = 5000


class JobContext:
    """What a job uses to report progress, log, and learn that it must stop.

    Progress and log lines are buffered in memory and written at most every
    ``JOBS_ADMIN_PROGRESS_INTERVAL`` seconds (and at every step and at the end), so a job may call
    :meth:`advance` a million times and write a few hundred times. :meth:`check_cancelled` reads
    memory only: the worker's heartbeat refreshes the cancel flag.
    """

    def __init__(
        self,
        *,
        job_id: int,
        job_type: str,
        params: dict[str, Any],
        attempt: int,
        max_attempts: int,
        progress_total: int | None,
        progress_done: int,
        progress_failed: int,
        results_dir: Path,
        timeout: float | None,
        flush: Flush,
        progress_interval: float,
        max_log_lines: int = MAX_LOG_LINES,
        logged_before: int = 0,
        resumed: bool = False,
        steps: Sequence[str] = (),
        record_items: bool = False,
    ) -> None:
        #: The id of the running job.
        self.job_id = job_id
        #: The registered name of its type.
        self.job_type = job_type
        #: The validated params the job was enqueued with.
        self.params = params
        #: Which run this is (1 for the first).
        self.attempt = attempt
        #: How many runs the job may have in all.
        self.max_attempts = max_attempts
        #: Whether this run resumes the job after a worker paused it at its shutdown: what
        #: was done then is in :attr:`done`, :attr:`failed` and :attr:`steps`, to be skipped.
        self.resumed = resumed
        self._steps = list(steps)
        # Earlier steps a resumed run has not begun again yet (each name as often as it ran).
        self._replay = Counter(steps)
        self._total = progress_total
        self._done = progress_done
        self._failed = progress_failed
        self._results_dir = results_dir
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout if timeout else None
        self._flush_cb = flush
        self._interval = progress_interval
        self._lock = threading.Lock()
        self._dirty: dict[str, Any] = {}
        self._events: list[dict[str, Any]] = []
        self._last_flush = 0.0
        self._max_log_lines = max_log_lines
        # Lines kept (written or buffered, by earlier runs too), counted against the cap.
        self._logged = logged_before
        self._pending_logs = 0  # of those, lines in ``_events`` not yet written
        self._dropped = 0  # lines dropped by the cap or the full buffer
        self._stop_reason: str | None = None
        self._stop_raised = False
        self._result_file: str | None = None
        #: Whether :meth:`item_done` and :meth:`item_failed` record each item (the job type's
        #: ``record_items``).
        self.record_items = record_items
        # The next item's number in this run; a resumed run goes on after what was handled.
        self._seq = progress_done + progress_failed
        self._pending_items = 0
        self._item_mark = ITEM_BATCH  # pending items that make a flush due at once

    # -- progress --------------------------------------------------------------------------

    @property
    def total(self) -> int | None:
        """The number of items, once :meth:`set_total` was called."""
        return self._total

    @property
    def done(self) -> int:
        """Items done so far."""
        return self._done

    @property
    def steps(self) -> list[str]:
        """Names of the steps this attempt has begun, those of the runs before a pause first."""
        with self._lock:
            return list(self._steps)

    @property
    def failed(self) -> int:
        """Items failed so far; the job ends ``partial`` if this is not zero."""
        return self._failed

    def set_total(self, total: int) -> None:
        """Say how many items the job will handle (drives the progress bar).

        :param total: the number of items; ``advance`` and ``item_failed`` count against it.
        """
        if total < 0:
            raise ValueError("total must not be negative")
        with self._lock:
            self._total = int(total)
            self._dirty["progress_total"] = self._total
        self._maybe_flush(force=True)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done; never more than the total allows.

        :param n: how many items were just finished.
        """
        with self._lock:
            self._done += n
            if self._total is not None:
                # Done and failed items together never pass the total (a resumed job that
                # redid items it had counted before its pause, a total set too low).
                self._done = max(0, min(self._done, self._total - self._failed))
            self._dirty["progress_done"] = self._done
        self._maybe_flush()

    def item_failed(self, key: Any, error: str | BaseException = "") -> None:
        """Record that one item failed; the job goes on and ends ``partial``.

        :param key: what identifies the item (a SKU, a row number); a retry of failed items
            gets these keys back.
        :param error: why it failed.
        """
        message = str(error) if not isinstance(error, str) else error
        with self._lock:
            self._failed += 1
            self._dirty["progress_failed"] = self._failed
            self._events.append(
                {
                    "kind": EventKind.ITEM_FAILED.value,
                    "level": "warning",
                    "message": storable(message[:2000]),
                    "data": {"key": storable(str(key)), "attempt": self.attempt},
                }
            )
            if self.record_items:
                self._record(key, ItemOutcome.FAILED, message)
        self._maybe_flush()

    def item_done(self, key: Any, message: str | None = None) -> None:
        """Count one item done, like ``advance(1)``; with the type's ``record_items`` it is also
        listed in the job's Items table.

        :param key: what identifies the item (a SKU, a row number).
        :param message: a note shown beside it ("created", "price changed").
        """
        self.advance(1)
        if self.record_items:
            with self._lock:
                self._record(key, ItemOutcome.OK, message)
            self._maybe_flush()

    def _record(self, key: Any, outcome: ItemOutcome, message: str | None) -> None:
        # Called with the lock held; written by the next flush with the progress.
        step = self._steps[-1] if self._steps else None
        self._events.append(item_event(self.attempt, self._seq, key, outcome, message, step))
        self._seq += 1
        self._pending_items += 1

    def step(self, name: str) -> None:
        """Start a named step: sets the job's phase and records a timed step in its timeline.

        A resumed job that begins again a step it began before its pause only sets the phase:
        the step is listed once, from when it first began.

        :param name: what the job is doing now ("Resolving images").
        """
        with self._lock:
            self._dirty["phase"] = storable(name[:200])
            again = self._replay[name] > 0
            if again:
                self._replay[name] -= 1
            else:
                self._steps.append(name)
                data: dict[str, Any] = {"attempt": self.attempt}
                if self.record_items:  # its first item: the step's items are a range of them
                    data["item"] = self._seq
                self._events.append(
                    {"kind": EventKind.STEP.value, "message": storable(name[:2000]), "data": data}
                )
        self._maybe_flush(force=True)

    def log(self, message: str, level: str = "info") -> None:
        """Add a line to the job's log.

        A job keeps at most ``JOBS_ADMIN_MAX_LOG_LINES`` lines over all its runs; later ones
        are dropped and the run's log ends with one line saying how many were.

        :param message: the text.
        :param level: ``debug``, ``info``, ``warning`` or ``error``.
        """
        if level not in _LEVELS:
            raise ValueError(f"level must be one of {sorted(_LEVELS)}")
        with self._lock:
            if self._logged >= self._max_log_lines:
                self._dropped += 1
                return  # over the cap for good: not even a flush
            full = self._pending_logs >= PENDING_LOG_LINES
            if full:
                self._dropped += 1
            else:
                self._logged += 1
                self._pending_logs += 1
                self._events.append(
                    {
                        "kind": EventKind.LOG.value,
                        "level": level,
                        "message": storable(str(message)[:10000]),
                    }
                )
        # With a full buffer the flush may find the database free again and empty it.
        self._maybe_flush()

    @property
    def dropped_log_lines(self) -> int:
        """Log lines dropped so far by the cap or by a full buffer."""
        return self._dropped

    def close_log(self) -> None:
        """End the log with one line saying how many lines were dropped, if any were.

        The runner calls it once the job function has returned or raised.
        """
        with self._lock:
            dropped, self._dropped = self._dropped, 0
            if dropped:
                lines = "line" if dropped == 1 else "lines"
                self._events.append(
                    {
                        "kind": EventKind.LOG.value,
                        "level": "warning",
                        "message": f"{dropped} more {lines} dropped: a job keeps at most"
                        f" {self._max_log_lines} log lines (JOBS_ADMIN_MAX_LOG_LINES)",
                    }
                )

    def message(self, text: str) -> None:
        """Set the job's one-line status message shown in the list.

        :param text: the message.
        """
        with self._lock:
            self._dirty["message"] = storable(str(text)[:2000])
        self._maybe_flush()

    # -- cancellation ----------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        """Whether the job has been asked to stop (cancel, shutdown or timeout)."""
        return self._stop_reason is not None or self._timed_out()

    def check_cancelled(self) -> None:
        """Raise :class:`~jobs_admin.errors.JobCancelled` if the job must stop now.

        Call it between items; what was done before stays done.
        """
        if self._timed_out() and self._stop_reason is None:
            self._stop_reason = f"timed out after {self._timeout:g} s"
        if self._stop_reason is not None:
            self._stop_raised = True
            raise JobCancelled(self._stop_reason)

    def _timed_out(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def request_stop(self, reason: str) -> None:
        """Ask the job to stop at its next :meth:`check_cancelled` (used by the worker)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stop_raised(self) -> bool:
        """Whether :meth:`check_cancelled` has told the job to stop (raised ``JobCancelled``)."""
        return self._stop_raised

    @property
    def stop_reason(self) -> str | None:
        """Why the job was asked to stop, if it was."""
        if self._stop_reason is None and self._timed_out():
            return f"timed out after {self._timeout:g} s"
        return self._stop_reason

    # -- results ---------------------------------------------------------------------------

    def result_file(self, filename: str) -> Path:
        """Return a path to write the job's downloadable result to.

        The file is offered on the job's detail page and deleted with the job.

        :param filename: the name the download gets; reduced to a safe file name.
        :raises InvalidArgument: the name holds a control character (a line break, NUL), which
            no download name may carry.
        """
        safe = result_name(filename)
        folder = self._results_dir / str(self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        self._result_file = f"{self.job_id}/{safe}"
        with self._lock:
            self._dirty["result_file"] = self._result_file
        return folder / safe

    # -- writing ---------------------------------------------------------------------------

    def _maybe_flush(self, force: bool = False) -> None:
        now = time.monotonic()
        due = force or self._pending_items >= self._item_mark
        if not due and now - self._last_flush < self._interval:
            return
        self.flush()

    def flush(self) -> None:
        """Write buffered progress and log lines now (the runner calls it at the end)."""
        values, events = self.drain()
        if not (values or events):
            return
        written = self._flush_cb(values, events)
        if written is None:
            self.put_back(values, events)
        elif not written:
            self.request_stop(LOST)

    def put_back(self, values: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Buffer values and events a write could not store (the database was busy) again,
        in front of anything buffered meanwhile, for the next flush.

        :param values: the job's columns to set.
        :param events: the event rows (without ``job_id``).
        """
        with self._lock:
            self._dirty = {**values, **self._dirty}
            self._events = events + self._events
            self._pending_logs += sum(1 for e in events if e["kind"] == EventKind.LOG.value)
            back = sum(1 for e in events if e["kind"] == ITEM_EVENT)
            self._pending_items += back
            # Not again at the very next item while the database is busy: a batch later.
            self._item_mark = self._pending_items + ITEM_BATCH

    def drain(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Take the buffered progress values and events (the runner writes the last ones)."""
        with self._lock:
            values, events = self._dirty, self._events
            self._dirty, self._events = {}, []
            self._pending_logs = 0
            self._pending_items = 0
            self._item_mark = ITEM_BATCH
            self._last_flush = time.monotonic()
        return values, events

    def __repr__(self) -> str:
        return f"<JobContext job={self.job_id} {self.job_type} attempt={self.attempt}>"
