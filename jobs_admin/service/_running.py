"""This process's worker and live feed of an app, the rescue of lost jobs, and ``work_off``."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from .. import signals
from ..runtime import Runtime
from . import _flow

if TYPE_CHECKING:
    from ..live.feed import LiveFeed
    from ..worker import Worker

log = logging.getLogger("jobs_admin")


def rescue(rt: Runtime) -> tuple[list[int], list[int]]:
    """Settle running jobs whose worker stopped heartbeating; return (requeued, failed)."""
    with rt.connections.write() as conn:
        requeued, failed = rt.store.rescue(conn, rt.settings.stale_after)
    if requeued or failed:
        log.warning(
            "jobs_admin rescued jobs of lost workers: requeued %s, failed %s", requeued, failed
        )
    for job_id in failed:
        signals.job_finished.send(rt.app, job=rt.snapshot(job_id))
    if requeued:
        rt.wake_worker()
    return requeued, failed


def work_off(rt: Runtime, limit: int | None = None) -> int:
    """Run due pending jobs one by one in this thread until none is left; return how many.

    Paused types are skipped and limits respected, as a worker does.

    :param rt: the app's runtime (in its app context).
    :param limit: stop after this many jobs.
    """
    from .._process import worker_name
    from ..runner import run_job

    name = worker_name() + ":work_off"
    rt.db.session.commit()
    ran = 0
    while limit is None or ran < limit:
        restricted = _flow.restrictions(rt)
        with rt.connections.write() as conn:
            ids = [r["id"] for r in _flow.claim(rt, conn, name, 1, 1, restricted)]
        if not ids:
            break
        run_job(rt, ids[0], name, lambda _id, _ctx: None)
        ran += 1
    rt.db.session.expire_all()
    return ran


def start_worker(rt: Runtime, concurrency: int | None = None) -> Worker:
    """Start this process's worker for the app unless it runs; return it.

    :param concurrency: job threads (default ``JOBS_ADMIN_CONCURRENCY``).
    """
    from ..worker import Worker

    with rt.lock:
        worker = rt.worker
        if worker is not None and worker.running:
            return worker
        worker = Worker(rt, concurrency)
        rt.worker = worker
        worker.start()
        return worker


def ensure_worker(rt: Runtime) -> None:
    """Start the worker unless this process has one (the embedded mode's first request)."""
    worker = rt.worker
    if worker is not None and worker.pid == os.getpid():
        return
    start_worker(rt)


def stop_worker(rt: Runtime, wait: bool = True) -> list[int]:
    """Stop this process's worker; return the ids of jobs still running when it stopped.

    :param wait: wait up to ``JOBS_ADMIN_SHUTDOWN_GRACE`` for running jobs.
    """
    with rt.lock:
        worker, rt.worker = rt.worker, None
    if worker is None:
        return []
    return worker.stop(wait=wait)


def live_feed(rt: Runtime) -> LiveFeed:
    """This process's live change feed for the app, made on first use (and after a fork)."""
    from ..live.feed import LiveFeed

    with rt.lock:
        feed = rt.live
        if feed is None or feed.pid != os.getpid():
            feed = rt.live = LiveFeed(rt)
        return feed


def stop_live(rt: Runtime, timeout: float = 5.0) -> None:
    """Close this process's live websockets of the app and stop its feed."""
    feed = rt.live
    if feed is not None:
        feed.stop(timeout)
