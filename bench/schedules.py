"""Schedules firing every minute on several worker processes: exactly once per tick, and how
long from the tick to the job's start.

``--schedules`` schedules ``* * * * *`` (type ``bench.noop``, ``skip_if_running=False``) are
stored, then ``--procs`` worker processes (``flask jobs worker``-like, ``--threads`` each) run for
``--minutes`` minutes, every one of them firing schedules. Afterwards: the jobs per (schedule,
tick) for every minute tick in the window (expected: exactly one each; missing and doubled ones
are counted), and fire-to-start = ``started_at - scheduled_for`` (the tick's minute to the job's
start) and fire-to-insert = ``created_at - scheduled_for``, as p50/p95/max.

Targets (issue 16): every tick fired exactly once; fire-to-start p50 under 1 s and p95 under
3 s; 1,000 schedules on 4 processes on PostgreSQL, 100 on 2 processes on SQLite.

Usage: ``python bench/schedules.py --backend postgresql --schedules 1000 --procs 4 --minutes 5``
and ``python bench/schedules.py --backend sqlite --schedules 100 --procs 2 --minutes 5``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    git_rev,
    load,
    machine_line,
    make_app,
    pct,
    pg_throwaway,
    pg_url,
    print_machine,
    table,
    verdict,
    write_section,
)


def _worker(url: str, threads: int) -> None:
    """One worker process: run jobs and fire schedules until SIGTERM."""
    from host_app.extensions import jobs

    app = make_app(url, JOBS_ADMIN_POLL_INTERVAL=1.0)
    stop = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with app.app_context():
        jobs.start_worker(threads)
        while not stop:
            time.sleep(0.2)
        jobs.stop_worker(wait=True)


def _setup(url: str, n: int) -> None:
    from host_app.extensions import db, jobs
    from jobs_admin.service import create_schedule

    app = make_app(url)
    with app.app_context():
        db.create_all()
        rt = jobs.runtime()
        for i in range(n):
            create_schedule(
                rt,
                f"bench-{i:05d}",
                "bench.noop",
                {"cron": "* * * * *", "skip_if_running": False},
                "bench",
            )


def _measure(url: str, start: datetime, end: datetime, n: int) -> dict[str, object]:
    import sqlalchemy as sa

    from host_app.extensions import db, jobs

    app = make_app(url)
    with app.app_context():
        j = jobs.Job
        rows = db.session.execute(
            sa.select(j.schedule_id, j.scheduled_for, j.created_at, j.started_at, j.status).where(
                j.scheduled_for.is_not(None)
            )
        ).all()
    first = (start + timedelta(minutes=1)).replace(second=0, microsecond=0)
    ticks = []
    t = first
    while t <= end:
        ticks.append(t)
        t += timedelta(minutes=1)
    window = [r for r in rows if first <= r.scheduled_for <= end]
    per = Counter((r.schedule_id, r.scheduled_for) for r in window)
    expected = n * len(ticks)
    doubled = sum(1 for v in per.values() if v > 1)
    missing = expected - len(per)
    started = [r for r in window if r.started_at is not None]
    to_start = [(r.started_at - r.scheduled_for).total_seconds() for r in started]
    to_insert = [(r.created_at - r.scheduled_for).total_seconds() for r in window]
    per_tick = Counter(r.scheduled_for for r in window)
    return {
        "ticks": len(ticks),
        "expected": expected,
        "jobs": len(window),
        "missing": missing,
        "doubled": doubled,
        "not_started": len(window) - len(started),
        "per_tick_min": min(per_tick.values()) if per_tick else 0,
        "to_start": to_start,
        "to_insert": to_insert,
    }


def run(a: argparse.Namespace) -> None:
    m = print_machine()
    tag = os.environ.get("JOBS_ADMIN_BENCH_TAG", "main")
    with tempfile.TemporaryDirectory() as tmp:
        if a.backend == "postgresql":
            ctx = pg_throwaway(f"bench_sched_{tag.replace('-', '_')}")
            dbname = ctx.__enter__()
            url = pg_url(dbname)
        else:
            ctx = None
            url = f"sqlite:///{Path(tmp) / 'sched.sqlite'}"
        try:
            _setup(url, a.schedules)
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "_worker", "--url", url, "--threads", str(a.threads)]
                )
                for _ in range(a.procs)
            ]
            start = datetime.now(UTC)
            print(f"{a.procs} workers started at {start:%H:%M:%S}; {a.minutes} min", flush=True)
            before = load()
            time.sleep(a.minutes * 60)
            end = datetime.now(UTC)
            time.sleep(5)  # the last tick's jobs start
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(60)
            after = load()
            r = _measure(url, start, end, a.schedules)
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)
    to_start, to_insert = r["to_start"], r["to_insert"]
    assert isinstance(to_start, list) and isinstance(to_insert, list)
    p50, p95 = pct(to_start, 0.5), pct(to_start, 0.95)
    exact = r["missing"] == 0 and r["doubled"] == 0
    print(r | {"to_start": None, "to_insert": None}, f"p50={p50:.3f} p95={p95:.3f}", flush=True)
    rows = [
        ["ticks in the window", r["ticks"]],
        ["jobs expected (schedules x ticks)", f"{r['expected']:,}"],
        ["jobs fired", f"{r['jobs']:,}"],
        ["ticks missing / doubled", f"{r['missing']} / {r['doubled']}"],
        ["exactly once", verdict(exact)],
        ["fire-to-insert p50 / p95 / max", _secs(to_insert)],
        ["fire-to-start p50 / p95 / max", _secs(to_start)],
        ["p50 < 1 s, p95 < 3 s", verdict(p50 < 1 and p95 < 3)],
    ]
    body = (
        f"`python bench/schedules.py --backend {a.backend} --schedules {a.schedules} "
        f"--procs {a.procs} --threads {a.threads} --minutes {a.minutes}` "
        f"({git_rev()}, {datetime.now(UTC):%Y-%m-%d}).\n\n"
        f"{machine_line(m).rstrip('.')}; load before {before}, after {after} (the machine is"
        " shared with other helpers' runs, so timings are loose).\n\n"
        f"{a.schedules} schedules `* * * * *` (a no-op job type, `skip_if_running=False`) fired "
        f"by {a.procs} `flask jobs worker`-like processes x {a.threads} threads for "
        f"{a.minutes} minutes; every process fires. Counted per (schedule, minute tick).\n\n"
        + table(["", "value"], rows)
    )
    write_section(
        f"schedules-{a.backend}",
        f"Schedules: {a.schedules} every minute on {a.procs} processes ({a.backend})",
        body,
    )


def fire_only(a: argparse.Namespace) -> None:
    """One process fires ``--schedules`` due schedules with ``fire_due`` (no workers): the
    firing's own cost, apart from the processes' contention."""
    import sqlalchemy as sa

    from host_app.extensions import jobs
    from jobs_admin.service import fire_due

    m = print_machine()
    tag = os.environ.get("JOBS_ADMIN_BENCH_TAG", "main").replace("-", "_")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("postgresql", "sqlite"):
            if backend == "postgresql":
                ctx = pg_throwaway(f"bench_fire_{tag}")
                url = pg_url(ctx.__enter__())
            else:
                ctx, url = None, f"sqlite:///{Path(tmp) / 'fire.sqlite'}"
            try:
                _setup(url, a.schedules)
                app = make_app(url)
                with app.app_context():
                    rt = jobs.runtime()
                    s = rt.models.Schedule.__table__
                    tick = datetime.now(UTC).replace(second=0, microsecond=0)
                    with rt.engine.begin() as conn:
                        conn.execute(sa.update(s).values(next_run_at=tick))
                    before = load()
                    t0 = time.perf_counter()
                    added = fire_due(rt, tick + timedelta(seconds=1))
                    took = time.perf_counter() - t0
                    rt.engine.dispose()
                rows.append(
                    [
                        backend,
                        f"{added:,}",
                        f"{took:.2f} s",
                        f"{took / added * 1000:.2f} ms",
                        before,
                    ]
                )
            finally:
                if ctx is not None:
                    ctx.__exit__(None, None, None)
    body = (
        f"`python bench/schedules.py --fire-only --schedules {a.schedules}` ({git_rev()}, "
        f"{datetime.now(UTC):%Y-%m-%d}).\n\n{machine_line(m)}\n\n"
        f"{a.schedules} schedules due at one tick, fired by `fire_due` in one process with no "
        "worker running (batches of 100: one multi-row INSERT, one UPDATE, the events): the "
        "firing's own cost, apart from the contention of worker processes.\n\n"
        + table(["database", "jobs added", "time", "per schedule", "load before"], rows)
    )
    write_section(
        "schedules-fire", f"Schedules: firing {a.schedules} due schedules in one process", body
    )


def _secs(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{pct(values, 0.5):.2f} s / {pct(values, 0.95):.2f} s / {max(values):.2f} s"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        p = argparse.ArgumentParser()
        p.add_argument("_worker")
        p.add_argument("--url", required=True)
        p.add_argument("--threads", type=int, default=4)
        w = p.parse_args()
        _worker(w.url, w.threads)
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--schedules", type=int, default=1000)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--fire-only", action="store_true", help="time fire_due alone (both databases)")
    args = p.parse_args()
    fire_only(args) if args.fire_only else run(args)


if __name__ == "__main__":
    main()
