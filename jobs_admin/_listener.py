"""One PostgreSQL ``LISTEN`` connection per process and engine, shared by its listeners.

The worker's dispatcher (``jobs_admin_pending``) and the live feed (``jobs_admin_changes``) each
want to wake up on a ``NOTIFY``. They share one connection and one thread here. The connection
is the engine's own: taken from its pool with ``engine.raw_connection()`` and detached from the
pool at once, so the host's ``connect_args``, ``creator`` and pool ``connect`` events (SSL,
cloud IAM tokens, a search path) hold for it, and it does not take one of the pool's places
for as long as it listens.

Only the psycopg (3) driver is supported (:func:`check_driver`): its ``notifies()`` waits for
notifications without polling.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("jobs_admin.listener")

#: Seconds between two looks at the subscriptions while no notification comes.
TICK = 0.5
#: The longest wait before reconnecting after a lost connection, in seconds.
MAX_BACKOFF = 30.0

Callback = Callable[[], None]


def check_driver(engine: sa.Engine) -> None:
    """Refuse a PostgreSQL engine whose driver cannot ``LISTEN`` the way jobs_admin does.

    :raises RuntimeError: the engine is PostgreSQL through another driver than psycopg (3).
    """
    if engine.dialect.name == "postgresql" and engine.dialect.driver != "psycopg":
        raise RuntimeError(
            "jobs_admin listens for PostgreSQL notifications through the psycopg (3) driver; "
            f"this engine uses {engine.dialect.driver!r}: use a 'postgresql+psycopg://' URL "
            "(pip install 'psycopg[binary]')"
        )


class Listener:
    """The ``LISTEN`` connection of one engine in this process, and the thread that waits on it.

    :param engine: a PostgreSQL engine using psycopg.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._subs: dict[str, list[Callback]] = {}
        self._thread: threading.Thread | None = None
        #: Set while the connection listens on every subscribed channel.
        self.listening = threading.Event()
        #: Connections made so far (a reconnect makes one more).
        self.connections = 0

    def subscribe(self, channel: str, callback: Callback) -> Callback:
        """Call ``callback`` on every ``NOTIFY channel``, and after each (re)connection.

        A (re)connection calls it too, since anything may have happened while nothing
        listened. The callback runs in the listener's thread: keep it short (set an event).

        :param channel: the channel's name (an SQL identifier of ours, never user input).
        :param callback: what to call.
        :returns: a function that unsubscribes it again; the thread ends with its last one.
        """
        if not channel.replace("_", "").isalnum():
            raise ValueError(f"bad channel name {channel!r}")
        with self._lock:
            self._subs.setdefault(channel, []).append(callback)
            if self._thread is None or not self._thread.is_alive():
                self.listening.clear()
                self._thread = threading.Thread(
                    target=self._run, name="jobs_admin-listen", daemon=True
                )
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subs.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._subs.pop(channel, None)

        return unsubscribe

    def _wanted(self) -> set[str]:
        with self._lock:
            if not self._subs and self._thread is threading.current_thread():
                # Decided under the lock: a new subscriber sees no thread and starts one.
                self._thread = None
            return set(self._subs)

    def _call(self, channels: set[str] | None = None) -> None:
        with self._lock:
            callbacks = [
                cb
                for ch, cbs in self._subs.items()
                if channels is None or ch in channels
                for cb in cbs
            ]
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("jobs_admin listener callback failed")

    def _connect(self) -> Any:
        """A psycopg connection of the engine's own making, outside its pool, in autocommit."""
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            if conn is None:
                raise RuntimeError("the engine's pool gave no driver connection")
            raw.detach()  # the pool forgets it: it neither counts nor gets it back
            # Whatever the pool's reset left, a listening connection holds no transaction.
            conn.rollback()
            conn.autocommit = True
        except BaseException:
            raw.close()
            raise
        self.connections += 1
        return conn

    def _run(self) -> None:
        delay = 0.5
        while self.pid == os.getpid() and self._wanted():
            conn = None
            try:
                conn = self._connect()
                listening: set[str] = set()
                while True:
                    wanted = self._wanted()
                    if not wanted:
                        return
                    for channel in wanted - listening:
                        conn.execute(f"LISTEN {channel}")
                    for channel in listening - wanted:
                        conn.execute(f"UNLISTEN {channel}")
                    if wanted != listening:
                        new = wanted - listening
                        listening = wanted
                        self.listening.set()
                        delay = 0.5
                        self._call(new)  # they may have missed something meanwhile
                    woken = {n.channel for n in conn.notifies(timeout=TICK, stop_after=1)}
                    if woken:
                        self._call(woken)
            except Exception as exc:
                self.listening.clear()
                if not self._wanted():
                    return
                log.warning(
                    "jobs_admin listener lost its connection (%s); retrying in %.1f s", exc, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            finally:
                self.listening.clear()
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        log.debug(
                            "jobs_admin listener: closing the connection failed", exc_info=True
                        )


_LISTENERS: weakref.WeakKeyDictionary[sa.Engine, Listener] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def listener_of(engine: sa.Engine) -> Listener:
    """This process's :class:`Listener` of ``engine`` (one for every app sharing the engine)."""
    with _LOCK:
        listener = _LISTENERS.get(engine)
        if listener is None or listener.pid != os.getpid():
            listener = _LISTENERS[engine] = Listener(engine)
        return listener
