"""Profile a missed target: where the time of one admin page, the worker or a prune goes.

Not run by ``make bench`` (a helper). Each mode prints the SQL statements with their time per
request / job / batch (a ``before/after_cursor_execute`` listener) and a pyinstrument profile.

    python bench/_profile.py page postgresql "/admin/jobs/?flt0_status_equals=failed"
    python bench/_profile.py page sqlite "/admin/jobs/?search=12345" --repeat 2
    python bench/_profile.py worker --jobs 500           # jobs.work_off() on PostgreSQL
    python bench/_profile.py prune postgresql --batches 200 --batch 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import login, make_app, pg_create, pg_drop, pg_url


class SqlTimer:
    """Time per statement (by its first 90 characters) on an engine."""

    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.by: dict[str, list[float]] = {}
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cur: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        ctx._bench_t0 = time.perf_counter()

    def _after(self, conn: Any, cur: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        key = " ".join(stmt.split())[:90]
        entry = self.by.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - ctx._bench_t0

    def clear(self) -> None:
        self.by.clear()

    def report(self, per: int, unit: str) -> str:
        total = sum(t for _n, t in self.by.values())
        count = sum(n for n, _t in self.by.values())
        lines = [f"SQL: {count / per:.1f} statements, {total / per * 1000:.2f} ms per {unit}"]
        for key, (n, t) in sorted(self.by.items(), key=lambda kv: -kv[1][1])[:10]:
            lines.append(f"  {t / per * 1000:8.2f} ms  x{n / per:.1f}  {key}")
        return "\n".join(lines)


def _profiler() -> Any:
    from pyinstrument import Profiler

    return Profiler(interval=0.0005)


def page(a: argparse.Namespace) -> None:
    from _dataset import dataset
    from admin_pages import stock_view

    from host_app.extensions import db, jobs

    app = make_app(dataset(a.backend, a.size))
    app.extensions["admin"][0].add_view(stock_view(jobs, db))
    client = app.test_client()
    login(client, "admin")
    with app.app_context():
        timer = SqlTimer(db.engine)
    for _ in range(2):
        client.get(a.path).get_data()
    # The profiler slows a page several times over (templates are generators, sampled at
    # every resumption): first the page's own time, unprofiled.
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        client.get(a.path).get_data()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"{a.path}: {times[len(times) // 2] * 1000:.1f} ms per request (median, unprofiled)")
    timer.clear()
    prof = _profiler()
    prof.start()
    t0 = time.perf_counter()
    for _ in range(a.repeat):
        client.get(a.path).get_data()
    seconds = time.perf_counter() - t0
    prof.stop()
    print(f"{a.path}: {seconds / a.repeat * 1000:.1f} ms per request (profiled)")
    print(timer.report(a.repeat, "request"))
    print(prof.output_text(unicode=False, color=False))


def worker(a: argparse.Namespace) -> None:
    import throughput

    from host_app.extensions import db, jobs

    name = "jobs_admin_bench_profile_worker"
    pg_create(name)
    url = pg_url(name)
    try:
        throughput.ours_schema(url)
        throughput.ours_enqueue(url, a.jobs)
        app = make_app(url)
        with app.app_context():
            timer = SqlTimer(db.engine)
            prof = _profiler()
            prof.start()
            t0 = time.perf_counter()
            n = jobs.work_off()
            seconds = time.perf_counter() - t0
            prof.stop()
            db.engine.dispose()
        print(f"{n} jobs in {seconds:.2f} s = {n / seconds:.0f} jobs/s (one thread, profiled)")
        print(timer.report(n, "job"))
        print(prof.output_text(unicode=False, color=False))
    finally:
        pg_drop(name)


def prune(a: argparse.Namespace) -> None:
    from _dataset import copy_of, drop_copy

    from host_app.extensions import db, jobs
    from jobs_admin.models import utcnow

    name = "jobs_admin_bench_profile_prune"
    url = copy_of(a.backend, a.size, "old", name)
    try:
        app = make_app(url)
        with app.app_context():
            timer = SqlTimer(db.engine)
            cutoff = utcnow() - dt.timedelta(days=30)
            prof = _profiler()
            prof.start()
            t0 = time.perf_counter()
            n = 0
            commit = checkpoint = 0.0
            # As JobsAdmin.prune runs them (without its pauses): one connection with the
            # pruning settings, a checkpoint after each batch (on SQLite; timed apart).
            with db.engine.connect() as conn, jobs.store.pruning(conn):
                for _ in range(a.batches):
                    with conn.begin():
                        k, _files = jobs.store.prune_batch(conn, cutoff, a.batch)
                        tc = time.perf_counter()
                    tk = time.perf_counter()
                    commit += tk - tc
                    jobs.store.checkpoint(conn)
                    checkpoint += time.perf_counter() - tk
                    n += k
            seconds = time.perf_counter() - t0
            prof.stop()
            db.engine.dispose()
        print(
            f"{n} jobs in {seconds:.2f} s = {n / seconds:.0f} jobs/s; "
            f"{seconds / a.batches * 1000:.1f} ms per batch of {a.batch} "
            f"(commit {commit / a.batches * 1000:.1f} ms, "
            f"checkpoint {checkpoint / a.batches * 1000:.1f} ms)"
        )
        print(timer.report(a.batches, "batch"))
        print(prof.output_text(unicode=False, color=False))
    finally:
        drop_copy(a.backend, name)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("page")
    s.add_argument("backend")
    s.add_argument("path")
    s.add_argument("--size", type=int, default=1_000_000)
    s.add_argument("--repeat", type=int, default=10)
    s = sub.add_parser("worker")
    s.add_argument("--jobs", type=int, default=500)
    s = sub.add_parser("prune")
    s.add_argument("backend")
    s.add_argument("--size", type=int, default=1_000_000)
    s.add_argument("--batches", type=int, default=200)
    s.add_argument("--batch", type=int, default=1000)
    a = p.parse_args()
    {"page": page, "worker": worker, "prune": prune}[a.mode](a)


if __name__ == "__main__":
    main()
