"""Housekeeping: prune 1,000,000 finished jobs (and their events) while another process enqueues.

A throwaway copy of the cached ``old`` dataset (every job finished 31-90 days ago, ~3.7 events
each; see ``_dataset.py``) is pruned by the real ``jobs.prune(days=30)`` in a fresh process
(batches of ``JOBS_ADMIN_PRUNE_BATCH``, by default 5,000 on PostgreSQL and 1,000 on SQLite, each
one statement in its own transaction), while this process enqueues a job with the real
``jobs.enqueue(..., commit=True)`` every 10 ms and records how long each enqueue took.
Reported: seconds, jobs deleted per second, the pruning process's peak resident memory (VmHWM;
and its growth over the idle app), and the longest enqueue (the stall) with its p99, against
the same enqueues before the prune started.

The floor, in the same run on a second copy: one plain ``DELETE FROM jobs_admin_job WHERE
finished_at < cutoff`` (the cascade deletes the events), the raw cost of the deletion without
batches, counters or advisory lock, and the stall it causes to the same enqueue loop.

Targets (issue 6): under 30 s, under 150 MB, no enqueue stall over 200 ms.

An enqueue that fails (SQLite: "database is locked" once its 30 s busy timeout ran out) counts
as a stall of that long and is reported as failed; the loop goes on.

Usage: ``python bench/prune.py [--size 1000000] [--backends postgresql,sqlite] [--no-floor]
[--set JOBS_ADMIN_PRUNE_BATCH=2000 ...]`` (``--set``: config of the pruning app, for tuning).
"""

from __future__ import annotations

import argparse
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
    human,
    machine_line,
    make_app,
    median,
    ms,
    parse_backends,
    pct,
    peak_rss_mb,
    print_machine,
    reset_peak_rss,
    rss_mb,
    table,
    verdict,
    write_section,
)
from _dataset import copy_of, drop_copy

HERE = Path(__file__).resolve()
SECONDS_TARGET, MB_TARGET, STALL_TARGET = 30.0, 150.0, 0.200


def child(a: argparse.Namespace) -> None:
    """Prune (or, with --floor, one plain DELETE) in this fresh process; write the figures."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from jobs_admin.models import utcnow

    app = make_app(a.url, **json.loads(a.config or "{}"))
    with app.app_context():
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        idle = rss_mb()
        reset_peak_rss()
        Path(a.ready).touch()
        while not os.path.exists(a.go):
            time.sleep(0.001)
        t0 = time.perf_counter()
        if a.floor:
            import datetime as dt

            with db.engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                n = conn.execute(
                    sa.delete(jobs.Job.__table__).where(
                        jobs.Job.__table__.c.finished_at < utcnow() - dt.timedelta(days=30)
                    )
                ).rowcount
        else:
            n = jobs.prune(days=30)
        seconds = time.perf_counter() - t0
        Path(a.result).write_text(
            json.dumps(
                {"seconds": seconds, "deleted": n, "peak_mb": peak_rss_mb(), "idle_mb": idle}
            )
        )
        db.engine.dispose()


def enqueue_loop(url: str, stop: threading.Event, out: list[tuple[float, float, str]]) -> None:
    """Enqueue a job every 10 ms; record (end, seconds, its slowest step) for each."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs

    app = make_app(url)
    steps: list[tuple[float, str]] = []

    def before(conn: Any, cursor: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        ctx._bench_t0 = time.perf_counter()

    def after(conn: Any, cursor: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        steps.append((time.perf_counter() - ctx._bench_t0, " ".join(stmt.split())[:60]))

    with app.test_request_context():
        sa.event.listen(db.engine, "before_cursor_execute", before)
        sa.event.listen(db.engine, "after_cursor_execute", after)
        while not stop.is_set():
            steps.clear()
            t0 = time.perf_counter()
            try:
                jobs.enqueue("bench.noop", name="during prune")
                t1 = time.perf_counter()
                db.session.commit()
            except sa.exc.OperationalError as exc:
                # SQLite's busy timeout ran out: a stall as long as the wait, and a failure.
                db.session.rollback()
                t2 = time.perf_counter()
                reason = str(exc.orig).splitlines()[0]
                out.append((time.monotonic(), t2 - t0, f"FAILED: {reason} ({(t2 - t0):.0f} s)"))
                continue
            t2 = time.perf_counter()
            steps.append((t2 - t1, "COMMIT"))
            slow = max(steps)
            out.append((time.monotonic(), t2 - t0, f"{slow[1]} ({slow[0] * 1000:.0f} ms)"))
            time.sleep(0.01)
        db.session.remove()
        db.engine.dispose()


def run(backend: str, size: int, floor: bool, tmp: Path, config: str) -> dict[str, Any]:
    name = f"jobs_admin_bench_prune_{os.getpid()}_{'floor' if floor else 'prune'}"
    url = copy_of(backend, size, "old", name)
    try:
        files = {k: str(tmp / f"{name}.{k}") for k in ("ready", "go", "result")}
        args = [sys.executable, str(HERE), "--child", "--url", url]
        for k, v in files.items():
            args += [f"--{k}", v]
        if floor:
            args.append("--floor")
        elif config:
            args += ["--config", config]
        proc = subprocess.Popen(args)
        while not os.path.exists(files["ready"]):
            if proc.poll() is not None:
                raise RuntimeError("prune child failed")
            time.sleep(0.01)
        samples: list[tuple[float, float, str]] = []
        stop = threading.Event()
        th = threading.Thread(target=enqueue_loop, args=(url, stop, samples))
        th.start()
        time.sleep(2.0)  # the enqueue loop's baseline, before the prune starts
        t_go = time.monotonic()
        Path(files["go"]).touch()
        proc.wait(timeout=3600)
        t_end = time.monotonic()
        time.sleep(0.5)
        stop.set()
        th.join()
        res = json.loads(Path(files["result"]).read_text())
        before = [d for t, d, _s in samples if t < t_go - 0.2]
        inside = [(d, slow) for t, d, slow in samples if t - d <= t_end and t >= t_go]
        during = [d for d, _s in inside] or [0.0]
        worst = max(inside)[1] if inside else ""
        failed = sum(slow.startswith("FAILED") for _d, slow in inside)
        res.update(
            backend=backend,
            size=size,
            kind="one DELETE (floor)" if floor else "jobs.prune(days=30)",
            stall_max=max(during),
            stall_p99=pct(during, 0.99),
            enqueue_median_during=median(during),
            enqueue_median_before=median(before),
            enqueues=len(during),
            failed=failed,
            worst_step=worst,
        )
        print(
            f"{backend:10} {res['kind']:22} {res['deleted']:,} jobs in {res['seconds']:.1f} s; "
            f"peak {res['peak_mb']:.0f} MB (idle {res['idle_mb']:.0f}); enqueue during: max "
            f"{ms(res['stall_max'])} ms, p99 {ms(res['stall_p99'])} ms, median "
            f"{ms(res['enqueue_median_during'])} ms (before {ms(res['enqueue_median_before'])} ms), n={len(during)}, failed {failed}; slowest step of the worst: {worst}",  # noqa: E501
            flush=True,
        )
        return res
    finally:
        drop_copy(backend, name)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--backends", type=parse_backends, default="postgresql,sqlite")
    p.add_argument("--no-floor", action="store_true", help="skip the single-DELETE floor")
    p.add_argument("--no-write", action="store_true")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config of the pruning app (JSON value or string): JOBS_ADMIN_PRUNE_BATCH=2000",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    for opt in ("url", "ready", "go", "result", "config"):
        p.add_argument(f"--{opt}", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a)
        return
    config = {}
    for item in a.set:
        key, _eq, value = item.partition("=")
        try:
            config[key] = json.loads(value)
        except ValueError:
            config[key] = value
    settings = json.dumps(config) if config else ""
    m = print_machine()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="jobs_admin_bench_") as tmp:
        for backend in a.backends:
            rows.append(run(backend, a.size, False, Path(tmp), settings))
            if not a.no_floor:
                rows.append(run(backend, a.size, True, Path(tmp), settings))
    body = [machine_line(m), ""]
    body.append(
        f"{human(a.size)} finished jobs (all older than 30 days) with their events, on a fresh copy "  # noqa: E501
        "of the dataset. *peak* is the pruning process's VmHWM (its idle app in brackets). "
        "*enqueue stall*: a second process enqueues a job every 10 ms with "
        "`jobs.enqueue(..., commit=True)`; the longest and p99 enqueue while the prune ran, and "
        "the median before it started. The floor row is one plain `DELETE ... WHERE finished_at "
        "< cutoff` on a second copy: the deletion work alone, in one transaction."
    )
    body.append("")
    body.append(
        table(
            [
                "backend",
                "how",
                "jobs deleted",
                "seconds",
                "jobs/s",
                "peak MB",
                "enqueue stall max",
                "p99",
                "median during / before",
                "slowest step of the longest enqueue",
            ],
            [
                [
                    r["backend"],
                    r["kind"],
                    f"{r['deleted']:,}",
                    f"{r['seconds']:.1f}",
                    f"{r['deleted'] / r['seconds']:,.0f}",
                    f"{r['peak_mb']:.0f} ({r['idle_mb']:.0f})",
                    f"{ms(r['stall_max'])} ms"
                    + (f" ({r['failed']} failed)" if r["failed"] else ""),
                    f"{ms(r['stall_p99'])} ms",
                    f"{ms(r['enqueue_median_during'])} / {ms(r['enqueue_median_before'])} ms",
                    f"`{r['worst_step']}`",
                ]
                for r in rows
            ],
        )
    )
    body.append("")
    tg = []
    for r in rows:
        if r["kind"].startswith("jobs.prune"):
            fl = next((x for x in rows if x["backend"] == r["backend"] and x is not r), None)
            extra = f" ({r['seconds'] / fl['seconds']:.1f}x the single DELETE)" if fl else ""
            tg.append(
                (
                    r["backend"],
                    f"< 30 s: {r['seconds']:.1f} s{extra}",
                    r["seconds"] < SECONDS_TARGET,
                )
            )
            tg.append((r["backend"], f"< 150 MB: {r['peak_mb']:.0f} MB", r["peak_mb"] < MB_TARGET))
            extra = f" (single DELETE: {ms(fl['stall_max'])} ms)" if fl else ""
            tg.append(
                (
                    r["backend"],
                    f"no enqueue stall > 200 ms: max {ms(r['stall_max'])} ms{extra}",
                    r["stall_max"] < STALL_TARGET,
                )
            )
    body.append(table(["backend", "target", "result"], [[b, t, verdict(ok)] for b, t, ok in tg]))
    body.append("")
    body.append(
        f"This run took {(time.perf_counter() - t0) / 60:.1f} min (copies of the dataset included)."
    )
    text = "\n".join(body)
    print(text)
    if not a.no_write:
        write_section("prune", "3. Housekeeping: pruning a million finished jobs", text)


if __name__ == "__main__":
    main()
