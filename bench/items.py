"""Recorded items (``record_items=True``): writing 1,000,000 items of one job, and the detail
page of that job.

For each backend (SQLite on a file, PostgreSQL on a throwaway database) one job of a bench type
with ``record_items=True`` reports ``--items`` items in three steps through ``ctx.item_done``
(every 1,000th through ``ctx.item_failed``), run by ``jobs.work_off()`` in this process: the
items reach the database in batches with the progress flush. Then the job's detail page is
requested through a logged-in Flask test client: the first page of items, the failed items,
a page deep in the table (keyset ``items_after``), and the whole items CSV streamed. Server time
is the time inside the request (``client.get`` until the body is read), median and p95 over
``--repeat`` requests after two warm-ups.

Target (issue 14): the detail page of a job with 1,000,000 recorded items under 100 ms.

Usage: ``python bench/items.py [--items 1000000] [--backends sqlite,postgresql] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    human,
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

PAGE_TARGET = 0.100
BENCH_TYPE = "bench.record_items"


def register_items_type() -> None:
    """The bench type: ``n`` items in three steps, every 1,000th failing."""
    from host_app.extensions import jobs

    if BENCH_TYPE in jobs.registry:
        return

    def record(ctx: Any, n: int = 1000) -> None:
        ctx.set_total(n)
        third = n // 3
        for name, numbers in (
            ("Reading", range(third)),
            ("Writing", range(third, 2 * third)),
            ("Checking", range(2 * third, n)),
        ):
            ctx.step(name)
            for i in numbers:
                if i % 1000 == 999:
                    ctx.item_failed(f"SKU-{i:07d}", "price is negative")
                else:
                    ctx.item_done(f"SKU-{i:07d}", "updated")

    jobs.job_type(BENCH_TYPE, title="Bench: recorded items", record_items=True)(record)


def timed(client: Any, url: str, repeat: int) -> list[float]:
    """Server times of ``repeat`` GETs of ``url`` after two warm-ups (each body read whole)."""
    times = []
    for i in range(repeat + 2):
        t0 = time.perf_counter()
        response = client.get(url)
        response.get_data()
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, (url, response.status_code)
        if i >= 2:
            times.append(elapsed)
    return times


def run(backend: str, url: str, n: int, repeat: int) -> dict[str, Any]:
    register_items_type()
    app = make_app(url)
    from host_app.auth import ensure_demo_users
    from host_app.extensions import db, jobs

    with app.app_context():
        db.create_all()
        ensure_demo_users()
        job = jobs.enqueue(BENCH_TYPE, params={"n": n}, created_by="admin", commit=True)
        job_id = job.id
        t0 = time.perf_counter()
        jobs.work_off()
        write = time.perf_counter() - t0
        count = db.session.scalar(
            db.select(db.func.count())
            .select_from(jobs.models.JobItem)
            .where(jobs.models.JobItem.job_id == job_id)
        )
        assert count == n, (count, n)
    client = app.test_client()
    login(client, "admin")
    base = f"/admin/jobs/details/?id={job_id}"
    cases = {
        "detail page, first items page": base,
        "detail page, failed items": base + "&items=failed",
        "detail page, items deep in the table": base + f"&items_after={int(n * 0.9)}",
        "detail page, a page back from there": base + f"&items_before={int(n * 0.9)}",
    }
    pages = {name: timed(client, path, repeat) for name, path in cases.items()}
    t0 = time.perf_counter()
    response = client.get(f"/admin/jobs/{job_id}/items.csv")
    lines = response.get_data().count(b"\n")
    csv_time = time.perf_counter() - t0
    assert lines == n + 1, lines
    return {"backend": backend, "write": write, "pages": pages, "csv": csv_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--backends", type=parse_backends, default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-report", action="store_true", help="print only")
    a = parser.parse_args()
    machine = print_machine()
    results = []
    for backend in a.backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results.append(run(backend, f"sqlite:///{tmp}/items.db", a.items, a.repeat))
        else:
            with pg_throwaway("jobs_admin_bench_items") as name:
                results.append(run(backend, pg_url(name), a.items, a.repeat))
        r = results[-1]
        print(f"{backend}: wrote {human(a.items)} items in {r['write']:.1f} s", flush=True)
    rows = []
    for r in results:
        rows.append(
            [
                r["backend"],
                f"write {human(a.items)} items (job run)",
                f"{r['write']:.1f} s",
                f"{a.items / r['write']:,.0f} items/s",
                "",
            ]
        )
        for name, times in r["pages"].items():
            rows.append(
                [
                    r["backend"],
                    name,
                    ms(median(times)),
                    f"p95 {ms(pct(times, 95))}",
                    verdict(median(times) < PAGE_TARGET),
                ]
            )
        rows.append(
            [r["backend"], f"items CSV, {human(a.items)} rows", f"{r['csv']:.1f} s", "", ""]
        )
    body = (
        f"{machine_line(machine)}\n\n"
        f"One job reporting {human(a.items)} items (every 1,000th failed) in three steps, run by "
        "`jobs.work_off()`; then its detail page (server time, median of "
        f"{a.repeat} after two warm-ups). Target: detail page under 100 ms.\n\n"
        + table(["backend", "case", "median ms (or time)", "p95 ms (or rate)", "target"], rows)
        + "\n\nRun: `python bench/items.py`"
    )
    print(body)
    if not a.no_report:
        write_section("items", "Recorded items (issue 14)", body)


if __name__ == "__main__":
    main()
