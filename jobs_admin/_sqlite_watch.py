"""Noticing, within milliseconds, that any connection or process committed to an SQLite file.

PostgreSQL tells a waiting process about other processes' commits (``LISTEN/NOTIFY``); SQLite
has no such thing, but ``PRAGMA data_version`` on a connection changes whenever *another*
connection (of this process or another) has committed since its last look, and reading it
touches only the shared WAL index: no query, no disk. The worker's idle dispatcher and the
live feed look at it every :data:`EVERY` seconds instead of waiting out their poll.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

#: Seconds between two looks at ``PRAGMA data_version``.
EVERY = 0.02


class CommitWatch:
    """A connection of its own (outside the pool) that tells when someone else committed.

    :param database: the SQLite file's path.
    """

    def __init__(self, database: str) -> None:
        self._conn: sqlite3.Connection | None = sqlite3.connect(database, check_same_thread=False)
        self._version = self._look()

    @classmethod
    def of(cls, url: sa.URL) -> CommitWatch | None:
        """A watch on ``url``'s database, or ``None`` if it is not an SQLite file (or cannot
        be opened: then the caller polls as it would without one).

        :param url: an engine's URL.
        """
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        try:
            return cls(str(url.database))
        except sqlite3.Error:
            return None

    def _look(self) -> int | None:
        if self._conn is None:
            return None
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:  # a broken watch: the caller falls back to its poll
            self.close()
            return None

    def sync(self) -> None:
        """Take the commits made until now as seen (call it just before reading them)."""
        self._version = self._look()

    def wait(
        self, wake: threading.Event, seconds: float, stopping: Callable[[], bool] = lambda: False
    ) -> None:
        """Return when ``wake`` is set, someone commits, ``seconds`` pass, or ``stopping()``.

        :param wake: the caller's wake-up event (not cleared here).
        :param seconds: the longest wait.
        :param stopping: checked between looks.
        """
        deadline = time.monotonic() + seconds
        while not stopping():
            left = deadline - time.monotonic()
            if left <= 0 or wake.wait(min(EVERY, left)):
                return
            version = self._look()
            if version is None:
                wake.wait(max(0.0, deadline - time.monotonic()))
                return
            if version != self._version:
                self._version = version
                return

    def close(self) -> None:
        """Close the watch's connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
