"""An opt-in first-come-first-served queue among jobs_admin's own SQLite writers in a process.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps and
retries on its busy handler's schedule (1, 2, 5 ... then 100 ms apart), so a thread that
writes again at once, like a worker claiming and ending short jobs, takes the lock back
before a sleeping writer wakes: a second worker in the same process then waited over a second
(measured: a second in-process worker claimed nothing for 1.04 s while the first claimed 1,994
jobs). With the queue on (``JOBS_ADMIN_SQLITE_WRITE_QUEUE``), jobs_admin's own write
transactions take turns in the order they asked, and the turn passes on as soon as one ends.

It knows which calls write because jobs_admin's own code takes a turn around each of its write
transactions (:meth:`WriteGate.turn`); it never looks at SQL text, and the host's statements,
sessions and connections never pass through it. Writers in other processes, and the host's own
writes, still meet SQLite's busy handler.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator

import sqlalchemy as sa


class WriteGate:
    """A FIFO lock a thread holds for one of jobs_admin's write transactions.

    :param wait: the longest wait for a turn (s), after which the write fails as SQLite's own
        would: ``OperationalError("database is locked")``.
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.reset()
        # A child forked while a thread of its parent held the gate (or its lock) would wait
        # for a holder that does not exist there.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset(ref))

    def holder(self) -> int | None:
        """The thread ident holding the turn, if any."""
        return self._holder

    def reset(self) -> None:
        """Forget every holder and waiter: in a forked child, where none of them exist."""
        self._cv = threading.Condition(threading.Lock())
        self._queue: collections.deque[object] = collections.deque()
        self._holder: int | None = None
        self._depth = 0

    @contextlib.contextmanager
    def turn(self, wait: float | None = None) -> Iterator[None]:
        """Wait for this thread's turn to write, hold it for the block, then pass it on.

        A thread that already holds the turn (a write nested in another) goes straight in.

        :param wait: the longest wait (s); defaults to the gate's.
        :raises sqlalchemy.exc.OperationalError: no turn within ``wait``; nothing was written.
        """
        self._acquire(self.wait if wait is None else wait)
        try:
            yield
        finally:
            self._release()

    def _acquire(self, wait: float) -> None:
        me = threading.get_ident()
        with self._cv:
            if self._holder == me:
                self._depth += 1
                return
            if self._holder is None and not self._queue:
                self._holder, self._depth = me, 1
                return
            turn = object()
            self._queue.append(turn)
            deadline = time.monotonic() + wait
            while self._holder is not None or self._queue[0] is not turn:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(turn)
                    self._cv.notify_all()  # the next in line may be free to go now
                    raise sa.exc.OperationalError(
                        "waiting for jobs_admin's write turn",
                        None,
                        sqlite3.OperationalError("database is locked"),
                    )
                try:
                    self._cv.wait(left)
                except BaseException:
                    # Interrupted (KeyboardInterrupt, a green thread's timeout): leave the
                    # line, or every later writer would wait behind a turn nobody takes.
                    self._queue.remove(turn)
                    self._cv.notify_all()
                    raise
            self._queue.popleft()
            self._holder, self._depth = me, 1

    def _release(self) -> None:
        with self._cv:
            if self._holder != threading.get_ident():
                return
            self._depth -= 1
            if self._depth == 0:
                self._holder = None
                self._cv.notify_all()


def _reset(ref: weakref.ReferenceType[WriteGate]) -> None:
    gate = ref()
    if gate is not None:
        gate.reset()
