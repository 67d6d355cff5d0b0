"""Actions on everything a filter matches: a ``jobs_admin.bulk`` retry of 100,000 failed jobs.

A fresh database (the demo host's ``create_all``) gets N failed jobs and N/5 completed ones
(plain INSERTs). A fresh process starts the real ``jobs.bulk("retry", status=failed)`` as the
demo's admin and runs it with ``jobs.work_off(limit=1)`` (batches of 500 ids, the checker
asked per job, one retry with its audit event per job); meanwhile this process enqueues a job
every 10 ms (the real ``jobs.enqueue(..., commit=True)``) and loads the admin list of failed
jobs (``GET /admin/jobs/?flt0_status_equals=failed`` as admin, the test client) every 100 ms.
Reported: seconds, jobs retried per second, the bulk process's peak resident memory (VmHWM)
over its idle app, the list's latency (median, p99, max) and the enqueue's (max, p99) during
the run against before it.

Targets (issue 17): PostgreSQL under 60 s, SQLite under 120 s, under 150 MB, the list under
50 ms, no enqueue over 200 ms.

Usage: ``python bench/bulk.py [--size 100000] [--backends postgresql,sqlite]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    login,
    machine_line,
    make_app,
    median,
    ms,
    parse_backends,
    pct,
    peak_rss_mb,
    pg_create,
    pg_drop,
    pg_url,
    print_machine,
    reset_peak_rss,
    rss_mb,
    table,
    verdict,
    write_section,
)
from _dataset import _build_schema
from prune import enqueue_loop

HERE = Path(__file__).resolve()
TARGETS = {"postgresql": 60.0, "sqlite": 120.0}
MB_TARGET, LIST_TARGET, STALL_TARGET = 150.0, 0.050, 0.200


def fill(url: str, n: int) -> None:
    """The schema, N failed jobs and N/5 completed ones, and the counters."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs

    _build_schema(url)
    app = make_app(url)
    now = dt.datetime.now(dt.UTC)
    table_ = jobs.Job.__table__
    with app.app_context():
        with db.engine.begin() as conn:
            rows: list[dict[str, Any]] = []
            for i in range(n + n // 5):
                failed = i % 6 != 5
                when = now - dt.timedelta(days=2, seconds=n - i)
                rows.append(
                    {
                        "type": "bench.type01",
                        "name": f"bulk bench {i}",
                        "status": "failed" if failed else "completed",
                        "params": {"n": i},
                        "created_at": when,
                        "started_at": when,
                        "finished_at": when,
                        "error": "boom" if failed else None,
                        "attempts": 1,
                        "max_attempts": 1,
                    }
                )
                if len(rows) == 10_000:
                    conn.execute(sa.insert(table_), rows)
                    rows = []
            if rows:
                conn.execute(sa.insert(table_), rows)
        jobs.recount()
        db.engine.dispose()


def child(a: argparse.Namespace) -> None:
    """Start the bulk retry as admin and run it in this fresh process; write the figures."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from host_app.models import User

    app = make_app(a.url)
    with app.app_context():
        admin = db.session.query(User).filter_by(username="admin").one()
        job, count = jobs.bulk("retry", {"filters": [["status", "failed"]]}, user=admin)
        job_id = job.id
        # First in the queue, ahead of the enqueue loop's jobs (work_off takes the first).
        db.session.execute(sa.update(jobs.Job).where(jobs.Job.id == job_id).values(priority=100))
        db.session.commit()
        idle = rss_mb()
        reset_peak_rss()
        Path(a.ready).touch()
        while not os.path.exists(a.go):
            time.sleep(0.001)
        t0 = time.perf_counter()
        assert jobs.work_off(limit=1) == 1
        seconds = time.perf_counter() - t0
        row = jobs.get(job_id)
        Path(a.result).write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "count": count,
                    "status": row.status,
                    "result": {k: v for k, v in (row.result or {}).items() if k != "skipped_ids"},
                    "peak_mb": peak_rss_mb(),
                    "idle_mb": idle,
                }
            )
        )
        db.engine.dispose()


def list_loop(url: str, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    """Load the admin list of failed jobs every 100 ms; record (end, seconds)."""
    from host_app.extensions import db

    app = make_app(url)
    client = app.test_client()
    login(client, "admin")
    while not stop.is_set():
        t0 = time.perf_counter()
        response = client.get("/admin/jobs/?flt0_status_equals=failed&flt1_created_within=all")
        took = time.perf_counter() - t0
        assert response.status_code == 200, response.status_code
        out.append((time.monotonic(), took))
        time.sleep(0.1)
    with app.app_context():
        db.engine.dispose()


def run(backend: str, size: int, tmp: Path) -> dict[str, Any]:
    name = f"jobs_admin_bench_bulk_{os.environ.get('JOBS_ADMIN_BENCH_TAG', 'main')}_{os.getpid()}"
    if backend == "postgresql":
        pg_create(name)
        url = pg_url(name)
    else:
        url = f"sqlite:///{tmp / (name + '.db')}"
    try:
        t_fill = time.perf_counter()
        fill(url, size)
        print(f"{backend}: filled in {time.perf_counter() - t_fill:.0f} s", flush=True)
        files = {k: str(tmp / f"{name}.{k}") for k in ("ready", "go", "result")}
        args = [sys.executable, str(HERE), "--child", "--url", url]
        for k, v in files.items():
            args += [f"--{k}", v]
        proc = subprocess.Popen(args)
        while not os.path.exists(files["ready"]):
            if proc.poll() is not None:
                raise RuntimeError("bulk child failed")
            time.sleep(0.01)
        enq: list[tuple[float, float, str]] = []
        lists: list[tuple[float, float]] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=enqueue_loop, args=(url, stop, enq)),
            threading.Thread(target=list_loop, args=(url, stop, lists)),
        ]
        for th in threads:
            th.start()
        time.sleep(3.0)  # baselines before the bulk job starts
        t_go = time.monotonic()
        Path(files["go"]).touch()
        proc.wait(timeout=3600)
        t_end = time.monotonic()
        time.sleep(0.3)
        stop.set()
        for th in threads:
            th.join()
        res = json.loads(Path(files["result"]).read_text())
        during = [d for t, d, _s in enq if t >= t_go and t - d <= t_end] or [0.0]
        before = [d for t, d, _s in enq if t < t_go - 0.2] or [0.0]
        ldur = [d for t, d in lists if t >= t_go and t - d <= t_end] or [0.0]
        lbefore = [d for t, d in lists if t < t_go - 0.2] or [0.0]
        res.update(
            backend=backend,
            size=size,
            enq_max=max(during),
            enq_p99=pct(during, 0.99),
            enq_before=median(before),
            list_median=median(ldur),
            list_p99=pct(ldur, 0.99),
            list_max=max(ldur),
            list_before=median(lbefore),
            lists=len(ldur),
            enqueues=len(during),
        )
        print(json.dumps(res), flush=True)
        return res
    finally:
        if backend == "postgresql":
            pg_drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--child", action="store_true")
    for k in ("url", "ready", "go", "result"):
        parser.add_argument(f"--{k}")
    a = parser.parse_args()
    if a.child:
        child(a)
        return
    m = print_machine()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="jobs-admin-bulk-") as tmp:
        for backend in parse_backends(a.backends):
            r = run(backend, a.size, Path(tmp))
            results.append(r)
            ok = (
                r["seconds"] < TARGETS[backend]
                and r["peak_mb"] < MB_TARGET
                and r["list_p99"] < LIST_TARGET
                and r["enq_max"] < STALL_TARGET
            )
            rows.append(
                [
                    backend,
                    f"{r['result'].get('done', 0):,} of {r['count']:,} ({r['status']})",
                    f"{r['seconds']:.1f} s ({r['result'].get('done', 0) / r['seconds']:,.0f}/s)",
                    f"{r['peak_mb']:.0f} MB (idle {r['idle_mb']:.0f})",
                    f"{ms(r['list_median'])} / {ms(r['list_p99'])} / {ms(r['list_max'])} ms"
                    f" (before {ms(r['list_before'])}; n={r['lists']})",
                    f"{ms(r['enq_max'])} / {ms(r['enq_p99'])} ms (before median"
                    f" {ms(r['enq_before'])}; n={r['enqueues']})",
                    verdict(ok),
                ]
            )
    body = (
        f"{machine_line(m)}\n\n"
        f"`bench/bulk.py --size {a.size}`: one `jobs_admin.bulk` retry (as the demo's admin) of "
        f"every failed job ({a.size:,} failed, {a.size // 5:,} completed in the table), run by "
        "`work_off` in its own process, while another enqueues a job every 10 ms and loads the "
        "admin list of failed jobs every 100 ms. One run per database.\n\n"
        + table(
            [
                "database",
                "retried",
                "time",
                "peak RSS",
                "list median / p99 / max",
                "enqueue max / p99",
                "targets",
            ],
            rows,
        )
        + "\n\nTargets (issue 17): PostgreSQL under 60 s, SQLite under 120 s, under 150 MB, the "
        "list under 50 ms, no enqueue over 200 ms.\n"
    )
    write_section("bulk", "Bulk retry of 100,000 failed jobs", body)


if __name__ == "__main__":
    main()
