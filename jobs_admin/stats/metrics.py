"""Prometheus metrics of jobs_admin, made with the official ``prometheus_client``.

A custom collector reads jobs_admin's own counters at each scrape (the per-status job counters,
the all-time totals of the rollups, a few indexed reads): nothing goes through the process-wide
default registry, so several apps in one process, and several processes, never mix their
figures, and a scrape costs a handful of small queries whatever the number of jobs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from ..models import JobStatus, utcnow
from .model import BOUNDS
from .reads import totals

#: What the metrics are called (the Grafana-ready list in the README names the same).
NAMES = (
    "jobs_admin_jobs",
    "jobs_admin_jobs_running_by_type",
    "jobs_admin_jobs_finished_total",
    "jobs_admin_job_run_seconds",
    "jobs_admin_job_wait_seconds",
    "jobs_admin_oldest_pending_age_seconds",
    "jobs_admin_workers_alive",
)


class JobsCollector(Collector):
    """Collects jobs_admin's metrics from its tables at each scrape.

    :param store: the app's job store.
    :param conn: a connection or session to read with.
    :param stale_after: ``JOBS_ADMIN_STALE_AFTER``: a worker whose jobs' heartbeats are older
        is not alive.
    """

    def __init__(self, store: Any, conn: Any, stale_after: float) -> None:
        self.store = store
        self.conn = conn
        self.stale_after = stale_after

    def collect(self) -> Iterator[Metric]:
        conn, store = self.conn, self.store
        j = store.jobs
        jobs = GaugeMetricFamily("jobs_admin_jobs", "Jobs stored, by status.", labels=["status"])
        for status, n in store.counts(conn).items():
            if status != "total":
                jobs.add_metric([status], n)
        yield jobs

        # The running jobs (as many as the workers' threads) in one indexed read, counted here:
        # SQLite would answer a GROUP BY type by walking the whole type index instead.
        now = utcnow()
        fresh = now - timedelta(seconds=self.stale_after)
        by_type: Counter[str] = Counter()
        alive: set[str] = set()
        for type_, worker, beat in conn.execute(
            sa.select(j.c.type, j.c.worker, j.c.heartbeat_at).where(
                j.c.status == JobStatus.RUNNING.value
            )
        ):
            by_type[type_] += 1
            if worker and beat is not None and _aware(beat) >= fresh:
                alive.add(worker)
        running = GaugeMetricFamily(
            "jobs_admin_jobs_running_by_type", "Jobs running now, by type.", labels=["type"]
        )
        for type_, n in sorted(by_type.items()):
            running.add_metric([type_], n)
        yield running

        finished = CounterMetricFamily(
            "jobs_admin_jobs_finished",
            "Job ends (completed, partial, failed, cancelled), by type and status.",
            labels=["type", "status"],
        )
        run_by_type: dict[str, tuple[list[int], float]] = {}
        wait_by_type: dict[str, tuple[list[int], float]] = {}
        for row in totals(conn, store.stats.table):
            finished.add_metric([row["type"], row["status"]], row["n"])
            for into, hist, total in (
                (run_by_type, row["run"], row["run_sum"]),
                (wait_by_type, row["wait"], row["wait_sum"]),
            ):
                had, had_sum = into.get(row["type"], ([0] * len(hist), 0.0))
                into[row["type"]] = (
                    [a + b for a, b in zip(had, hist, strict=True)],
                    had_sum + total,
                )
        yield finished
        yield _histogram(
            "jobs_admin_job_run_seconds",
            "Run time of ended jobs (start to end), by type.",
            run_by_type,
        )
        yield _histogram(
            "jobs_admin_job_wait_seconds",
            "Wait of started jobs from run_at to their start, by type.",
            wait_by_type,
        )

        oldest = conn.execute(
            sa.select(j.c.run_at)
            .where(j.c.status == JobStatus.PENDING.value, j.c.run_at <= now)
            .order_by(j.c.created_at, j.c.id)
            .limit(1)
        ).scalar()
        age = GaugeMetricFamily(
            "jobs_admin_oldest_pending_age_seconds",
            "Seconds the oldest due pending job (oldest by creation) has been due; 0 if none.",
        )
        age.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield age

        workers = GaugeMetricFamily(
            "jobs_admin_workers_alive",
            "Worker processes running jobs whose heartbeat is fresh.",
        )
        workers.add_metric([], len(alive))
        yield workers


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _histogram(
    name: str, documentation: str, by_type: dict[str, tuple[list[int], float]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["type"])
    for type_, (hist, total) in sorted(by_type.items()):
        cumulative, buckets = 0, []
        for bound, n in zip((*(repr(b) for b in BOUNDS), "+Inf"), hist, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        family.add_metric([type_], buckets, sum_value=total)
    return family


def exposition(store: Any, conn: Any, stale_after: float) -> bytes:
    """The metrics in Prometheus' text exposition format (version 0.0.4).

    :param store: the app's job store.
    :param conn: a connection or session to read with.
    :param stale_after: ``JOBS_ADMIN_STALE_AFTER``.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector(store, conn, stale_after))
    return generate_latest(registry)
