"""Process-level helpers of the worker: its name, and a stop that runs before pools join."""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

log = logging.getLogger("jobs_admin.worker")


def before_pools_exit(func: Callable[[], object]) -> None:
    """Call ``func`` when the interpreter exits, before ``concurrent.futures`` joins its threads.

    ``atexit`` is too late for a worker's graceful stop: the interpreter first runs
    ``threading``'s exit functions, and ``concurrent.futures`` registers one there that waits
    for every pool thread (a running job would run to its end, or for ever) and then refuses
    new work (APScheduler's heartbeat then logs "cannot schedule new futures after shutdown").
    ``threading._register_atexit`` is how ``concurrent.futures`` itself registers; its
    functions run in reverse order, so ``func``, registered after ``concurrent.futures`` was
    imported, runs first, while the pools still work. It is private (Python 3.9 to 3.13 have
    it): without it ``func`` falls back to ``atexit``, where the stop still ends the worker.
    Servers and the CLI do not rely on this: gunicorn's ``worker_exit`` hook of
    ``docs/deploy/gunicorn.conf.py`` and ``flask jobs worker`` call ``stop_worker()`` directly.

    :param func: what to call; an exception it raises is logged, never raised.
    """

    def call() -> None:
        try:
            func()
        except Exception:
            log.exception("jobs_admin could not stop its worker at exit")

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(call)
        return
    try:
        register(call)
    except RuntimeError:
        # Started while the interpreter is already exiting: atexit is all there is left.
        atexit.register(call)


def worker_name() -> str:
    """A name unique to this process: host, pid and a random tag (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
