"""Issue 18 at 1,000,000 jobs: Insights, Failures and metrics answer times, and the cost of the
rollups on a job's end (A/B in one run), on SQLite and PostgreSQL.

Runs on the cached ``mix`` datasets of ``_dataset.py`` (set ``JOBS_ADMIN_BENCH_TAG``). The
dataset is prepared once (idempotent; then ``VACUUM ANALYZE``, as autovacuum would): 100,000
failed jobs with 6 causes whose messages vary (numbers, hosts, quoted ids: each cause one group
per type), their ``error_group`` set by ``regroup`` and the counters recounted; then 90 days of
rollups written directly: minute rows for the
last two days (about 8 (type, status, user) rows per minute), hour rows for 32 days (60 per
hour), day rows for 90 days (200 per day), and the all-time totals. Server time is the time
inside the request (Flask test client, logged in, body read), median and p95 after two warm-ups.

The A/B: a fresh small database per backend; ``--ab-rounds`` rounds alternate rollups on and
off (off: the store's ``_rollup`` replaced by a no-op); each round claims 500 jobs for a ghost
worker and writes their ends with the worker's group commit (``finish_many``, one transaction),
then ends 100 more one at a time (``finish``: the failure path, one transaction each).

Targets (issue 18): the Insights page and each chart's data under 50 ms; metrics under 20 ms;
grouping 100,000 failed jobs under 100 ms on PostgreSQL; an end no more than 10 % slower.

Usage: ``JOBS_ADMIN_BENCH_TAG=insights python bench/insights.py [--backends both]``
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
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
    pg_throwaway,
    pg_url,
    print_machine,
    table,
    verdict,
    write_section,
)
from _dataset import TYPES, USERS, dataset

PAGE_TARGET, METRICS_TARGET, GROUP_TARGET, END_TARGET = 0.050, 0.020, 0.100, 1.10
FAILED_TARGET = 100_000
CAUSES = [
    ("TimeoutError", "timeout after {n} s on host 10.0.{a}.{b}"),
    ("ConnectionError", "warehouse API at 10.1.{a}.{b}:{n} refused the connection"),
    ("KeyError", "'SKU-{n}{a}'"),
    ("ValueError", "not an amount: '{n},{b}O'"),
    ("RuntimeError", "order {n} of customer {a}-{b} has no invoice"),
    ("PermissionError", "upload to bucket 'exports-{a}' denied for key 0x{n:x}"),
]


def measure(func: Any, repeat: int) -> list[float]:
    for _ in range(2):
        func()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return times


def prepare(app: Any) -> dict[str, int]:
    """100,000 failed jobs with varied causes and 90 days of rollups (once per dataset)."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from jobs_admin.stats.model import DAY, HOUR, MINUTE, RUN_COLS, SUM_COLS, WAIT_COLS
    from jobs_admin.stats.writes import regroup

    with app.app_context():
        j = jobs.Job.__table__
        t = jobs.store.stats.table
        s = db.session
        failed = s.execute(sa.select(sa.func.count()).where(j.c.status == "failed")).scalar() or 0
        groups = s.execute(
            sa.select(sa.func.count(sa.distinct(j.c.error_group))).where(j.c.status == "failed")
        ).scalar()
        stat_rows = s.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0
        s.rollback()
        if failed < FAILED_TARGET or (groups or 0) < 2:
            print("preparing: failed jobs with varied causes ...", flush=True)
            t0 = time.perf_counter()
            with jobs.connections().write() as conn:
                if failed < FAILED_TARGET:
                    more = (
                        conn.execute(
                            sa.select(j.c.id)
                            .where(j.c.status == "completed")
                            .order_by(j.c.id)
                            .limit(FAILED_TARGET - failed)
                        )
                        .scalars()
                        .all()
                    )
                    conn.execute(sa.update(j).where(j.c.id.in_(more)).values(status="failed"))
                rng = random.Random(18)
                ids = conn.execute(sa.select(j.c.id).where(j.c.status == "failed")).scalars().all()
                rows = []
                for job_id in ids:
                    name, text = CAUSES[rng.randrange(len(CAUSES))]
                    msg = text.format(
                        n=rng.randrange(1, 9999), a=rng.randrange(256), b=rng.randrange(256)
                    )
                    rows.append({"job_id": job_id, "error": f"{name}: {msg}"})
                upd = (
                    sa.update(j)
                    .where(j.c.id == sa.bindparam("job_id"))
                    .values(error=sa.bindparam("error"))
                )
                for k in range(0, len(rows), 5000):
                    conn.execute(upd, rows[k : k + 5000])
                regroup(conn, j)
            jobs.recount()
            print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
        if not stat_rows:
            print("preparing: 90 days of rollups ...", flush=True)
            rng = random.Random(1890)
            now = int(time.time())
            types = [name for name, _ in TYPES]
            statuses = ["completed"] * 12 + ["failed", "partial", "cancelled"]
            users = [*USERS[:6], ""]
            rows_by_key: dict[tuple[Any, ...], dict[str, Any]] = {}

            def add(span: int, bucket: int, n_rows: int, scale: int) -> None:
                for _ in range(n_rows):
                    key = (
                        span,
                        bucket,
                        rng.choice(types),
                        rng.choice(statuses),
                        rng.choice(users),
                        0,
                    )
                    row = rows_by_key.setdefault(
                        key,
                        dict(
                            zip(
                                ("span", "bucket", "type", "status", "created_by", "slot"),
                                key,
                                strict=True,
                            ),
                            **{c: 0 for c in SUM_COLS},
                        ),
                    )
                    n = rng.randint(1, scale)
                    row["n"] += n
                    row["run_n"] += n
                    row["wait_n"] += n
                    row["run_sum"] += n * rng.uniform(0.05, 20)
                    row["wait_sum"] += n * rng.uniform(0.01, 2)
                    row[RUN_COLS[rng.randrange(3, 10)]] += n
                    row[WAIT_COLS[rng.randrange(0, 6)]] += n

            for d in range(0, 91):
                add(DAY, (now - d * DAY) // DAY * DAY, 200, 80)
            for h in range(0, 32 * 24):
                add(HOUR, (now - h * HOUR) // HOUR * HOUR, 60, 5)
            for m in range(0, 2 * 24 * 60):
                add(MINUTE, (now - m * MINUTE) // MINUTE * MINUTE, 8, 2)
            totals: dict[tuple[Any, ...], dict[str, Any]] = {}
            for row in rows_by_key.values():
                key = (0, 0, row["type"], row["status"], row["created_by"], 0)
                tot = totals.setdefault(
                    key, {**row, "span": 0, "bucket": 0, **{c: 0 for c in SUM_COLS}}
                )
                for c in SUM_COLS:
                    tot[c] += row[c]
            rows = [*rows_by_key.values(), *totals.values()]
            with jobs.connections().write() as conn:
                for k in range(0, len(rows), 5000):
                    conn.execute(sa.insert(t), rows[k : k + 5000])
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text(f"ANALYZE {t.name}"))
                else:
                    conn.execute(sa.text("ANALYZE"))
            print(f"  {len(rows):,} rollup rows", flush=True)
        if failed < FAILED_TARGET or (groups or 0) < 2 or not stat_rows:
            # What autovacuum does after such an update: the visibility map and the statistics
            # (an index-only scan of the failure groups needs the first).
            with db.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    conn.execute(sa.text("VACUUM ANALYZE jobs_admin_job"))
                    conn.execute(sa.text(f"VACUUM ANALYZE {t.name}"))
                else:
                    conn.execute(sa.text("ANALYZE"))
                    conn.commit()
        out = {
            "failed": s.execute(sa.select(sa.func.count()).where(j.c.status == "failed")).scalar()
            or 0,
            "groups": len(jobs.failure_groups(limit=10_000)),
            "stat_rows": s.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0,
            "jobs": s.execute(sa.select(sa.func.count()).select_from(j)).scalar() or 0,
        }
        s.remove()
        return out


def run_pages(backend: str, n: int, repeat: int) -> tuple[list[list[Any]], dict[str, int]]:
    from host_app.extensions import db, jobs

    url = dataset(backend, n)
    app = make_app(url, JOBS_ADMIN_METRICS=True, JOBS_ADMIN_METRICS_TOKEN="bench")
    facts = prepare(app)
    rows: list[list[Any]] = []
    client = app.test_client()
    login(client, "admin")
    viewer = app.test_client()
    login(viewer, "viewer")

    def get(c: Any, path: str, **kw: Any) -> Any:
        def go() -> None:
            r = c.get(path, **kw)
            r.get_data()
            assert r.status_code == 200, (path, r.status_code)

        return go

    cases = [
        (f"Insights page, {r}", get(client, f"/admin/jobs/insights/?range={r}"), PAGE_TARGET)
        for r in ("1h", "24h", "7d", "30d", "90d")
    ]
    cases += [
        (f"chart data, {r}", get(client, f"/admin/jobs/insights/data?range={r}"), PAGE_TARGET)
        for r in ("1h", "24h", "7d", "30d", "90d")
    ]
    cases += [
        (
            "chart data, 90d, one type",
            get(client, "/admin/jobs/insights/data?range=90d&type=catalog.export"),
            PAGE_TARGET,
        ),
        (
            "chart data, 24h, viewer (own jobs)",
            get(viewer, "/admin/jobs/insights/data?range=24h"),
            PAGE_TARGET,
        ),
        (
            "metrics (bearer token)",
            get(
                app.test_client(), "/admin/jobs/metrics", headers={"Authorization": "Bearer bench"}
            ),
            METRICS_TARGET,
        ),
        ("Failures page", get(client, "/admin/jobs/failures/"), None),
    ]

    def grouping() -> None:
        with app.app_context():
            jobs.failure_groups()
            db.session.remove()

    cases.append(
        (
            f"failure grouping ({facts['failed']:,} failed)",
            grouping,
            GROUP_TARGET if backend == "postgresql" else None,
        )
    )
    for label, func, target in cases:
        times = measure(func, repeat)
        p50, p95 = median(times), pct(times, 95)
        rows.append(
            [
                label,
                ms(p50),
                ms(p95),
                "-" if target is None else f"{target * 1000:.0f} ms: {verdict(p50 < target)}",
            ]
        )
        print(f"{backend:10} {label:42} p50 {ms(p50):>8} p95 {ms(p95):>8}", flush=True)
    with app.app_context():
        db.engine.dispose()
    return rows, facts


def run_ab(backend: str, rounds: int) -> list[Any]:
    """Ends written with and without rollups, alternating, on a fresh database."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from jobs_admin.models import JobStatus, utcnow
    from jobs_admin.store import Finish
    from jobs_admin.store.base import StoreBase

    real = StoreBase._rollup
    results: dict[bool, dict[str, list[float]]] = {
        True: {"batch": [], "one": []},
        False: {"batch": [], "one": []},
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        pg_throwaway("jobs_admin_bench_ab")
        if backend == "postgresql"
        else _nullctx(f"sqlite:///{tmp}/ab.db") as target,
    ):
        url = pg_url(target) if backend == "postgresql" else target
        app = make_app(url)
        with app.app_context():
            db.create_all()
            for r in range(rounds * 2):
                on = r % 2 == 0
                StoreBase._rollup = real if on else (lambda self, conn, ends: None)  # type: ignore[method-assign]
                for _ in range(600):
                    jobs.enqueue("bench.noop", commit=False)
                db.session.commit()
                with jobs.connections().write() as conn:
                    ids = jobs.store.claim(conn, "ghost:1:ab", 600)
                batch, single = ids[:500], ids[500:]
                ends = [
                    Finish(
                        job_id=i,
                        status=JobStatus.COMPLETED,
                        values={},
                        events=[],
                        finished_at=utcnow(),
                    )
                    for i in batch
                ]
                t0 = time.perf_counter()
                with jobs.connections().write() as conn:
                    jobs.store.finish_many(conn, "ghost:1:ab", ends)
                results[on]["batch"].append((time.perf_counter() - t0) / len(batch))
                t0 = time.perf_counter()
                for i in single:
                    with jobs.connections().write() as conn:
                        jobs.store.finish(
                            conn,
                            i,
                            "ghost:1:ab",
                            JobStatus.FAILED,
                            {"error": f"ValueError: bad row {i}"},
                        )
                results[on]["one"].append((time.perf_counter() - t0) / len(single))
            StoreBase._rollup = real  # type: ignore[method-assign]
            stat = jobs.store.stats.table
            counted = db.session.execute(
                sa.select(sa.func.sum(stat.c.n)).where(stat.c.span == 60)
            ).scalar()
            db.session.remove()
            db.engine.dispose()
    out = []
    for kind, label in (
        ("batch", "group commit, 500 ends per transaction"),
        ("one", "one end per transaction (failure path)"),
    ):
        off, on = median(results[False][kind]), median(results[True][kind])
        out.append(
            [
                backend,
                label,
                f"{off * 1e6:.0f} µs",
                f"{on * 1e6:.0f} µs",
                f"{on / off:.2f}x",
                verdict(on / off <= END_TARGET),
            ]
        )
        print(
            f"{backend:10} A/B {label:44} off {off * 1e6:7.0f} µs on {on * 1e6:7.0f} µs"
            f" ({on / off:.2f}x); rollups counted {counted}",
            flush=True,
        )
    return out


class _nullctx:
    def __init__(self, value: str) -> None:
        self.value = value

    def __enter__(self) -> str:
        return self.value

    def __exit__(self, *exc: Any) -> None:
        return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", type=parse_backends, default=parse_backends("both"))
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--ab-rounds", type=int, default=6)
    p.add_argument("--ab-only", action="store_true", help="only the A/B of the end writes")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = p.parse_args()
    m = print_machine()
    page_rows, ab_rows, facts_lines = [], [], []
    for backend in [] if args.ab_only else args.backends:
        rows, facts = run_pages(backend, args.size, args.repeat)
        page_rows += [[backend, *r] for r in rows]
        facts_lines.append(
            f"{backend}: {facts['jobs']:,} jobs, {facts['failed']:,} failed in"
            f" {facts['groups']} groups, {facts['stat_rows']:,} rollup rows"
        )
    for backend in args.backends:
        ab_rows += run_ab(backend, args.ab_rounds)
    body = (
        f"{machine_line(m)}\n\n"
        + "Datasets: "
        + "; ".join(facts_lines)
        + " (90 days of rollups; see `bench/insights.py`).\n\n"
        + "Server time (Flask test client, logged in as admin unless said), median and p95 of "
        + f"{args.repeat} requests after two warm-ups:\n\n"
        + table(["backend", "case", "p50", "p95", "target"], page_rows)
        + "\n\nThe cost of the rollups on a job's end, A/B in one run (alternating rounds, "
        + f"{args.ab_rounds} each, medians per end):\n\n"
        + table(["backend", "end", "rollups off", "rollups on", "ratio", "≤ 1.10x"], ab_rows)
        + "\n"
    )
    if not args.no_write:
        # One section per set of backends (each backend's dataset builds at its own time).
        names = "+".join(args.backends)
        write_section(
            "insights" if names == "postgresql" else f"insights-{names}",
            f"Insights, failure groups and metrics at 1,000,000 jobs (issue 18): {names}",
            body,
        )
    print(body)


if __name__ == "__main__":
    main()
