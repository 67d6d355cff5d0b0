"""Admin page server time at 10k, 100k and 1M jobs, against a stock Flask-Admin ModelView.

For each backend (SQLite, PostgreSQL) and size, the demo host runs on a generated dataset (see
``_dataset.py``; cached between runs) with, in the same ``Admin``, a stock
``flask_admin.contrib.sqla.ModelView(jobs.Job, db, endpoint="stock_jobs", url="stock-jobs")``
given the same filters and searchable columns: what a host would register without jobs_admin.
Both are requested through a logged-in Flask test client; server time is the time inside the
request (``client.get`` until the body is read), median and p95 over ``--repeat`` requests after
two warm-ups (fewer when a case would exceed ``--budget`` seconds; the table says how many).

Cases: list first page (the default 7-day range), the list of all time, a status filter, a
"Running: <phase>" filter, a type + date filter, a search (substring), a deep page (offset
50,000), the KPI tiles (ours: the counters the tiles read; the stock equivalent: the ``GROUP BY
status`` a host would run), the detail page and the row refresh the live script asks for after
a change of status (``<view>/rows`` for the 25 rows of the first page; no stock equivalent).
Every list page of ours renders every optional column (Message, Started, Last updated, Updated
by, Progress %, Items, Attempts, Priority, Worker): the browser hides those not chosen.

Targets (issue 6): at 1,000,000 jobs every list/KPI request under 50 ms median, search under
150 ms, and at least 5x faster than the stock view on filters and search.

Usage: ``python bench/admin_pages.py [--sizes 10000,100000,1000000] [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CACHE,
    FULL_SIZES,
    human,
    login,
    machine_line,
    make_app,
    median,
    ms,
    parse_backends,
    parse_sizes,
    pct,
    print_machine,
    ratio,
    table,
    verdict,
    write_section,
)
from _dataset import copy_of, dataset, drop_copy

BARE = f"jobs_admin_bench_bare_{os.getpid()}"

LIST_TARGET, SEARCH_TARGET, STOCK_FACTOR = 0.050, 0.150, 5.0


def stock_view(jobs: Any, db: Any) -> Any:
    """The stock Flask-Admin view a host would register on the jobs table."""
    from flask_admin.contrib.sqla import ModelView
    from flask_admin.contrib.sqla import filters as sqla_filters

    class AwareGreater(sqla_filters.DateTimeGreaterFilter):
        # jobs_admin stores timezone-aware UTC datetimes; the stock filter parses naive ones.
        def clean(self, value: str) -> dt.datetime:
            return super().clean(value).replace(tzinfo=dt.UTC)

    class StockJobView(ModelView):
        column_filters = (
            "status",
            "type",
            "created_by",
            AwareGreater(jobs.Job.created_at, "Created"),
        )
        column_searchable_list = ("name", "reference", "created_by")
        named_filter_urls = True
        column_default_sort = ("created_at", True)
        page_size = 25
        can_view_details = True

    return StockJobView(jobs.Job, db, endpoint="stock_jobs", url="stock-jobs")


def cases(
    n: int, detail_id: int, first_ids: list[int]
) -> list[tuple[str, str, str | None, str | None]]:
    """(label, kind, our path, stock path); kind: list, filter, search, kpi, detail, rows."""
    refresh = "&".join(f"id={i}" for i in first_ids) + "&url=/admin/jobs/"
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=7)).strftime("%Y-%m-%d+%H:%M:%S")
    deep = min(2000, n // 25 // 2)  # page 2000 = offset 50,000 (half the list when smaller)
    term = "12345" if n >= 100_000 else "1234"
    return [
        ("list: first page (default 7 days)", "list", "/admin/jobs/", "/admin/stock-jobs/"),
        ("list: all time", "list", "/admin/jobs/?flt0_created_within=all", "/admin/stock-jobs/"),
        ("list: status filter", "filter", "/admin/jobs/?flt0_status_equals=failed",
         "/admin/stock-jobs/?flt0_status_equals=failed"),
        ("list: 'Running: Processing' filter", "list",
         "/admin/jobs/?flt0_status_equals=running%3AProcessing",
         "/admin/stock-jobs/?flt0_status_equals=running"),
        ("list: type + date filter", "filter",
         "/admin/jobs/?flt0_type_equals=bench.type07&flt1_created_within=7d",
         f"/admin/stock-jobs/?flt0_type_equals=bench.type07&flt1_created_greater_than={since}"),
        (f"list: search '{term}'", "search", f"/admin/jobs/?search={term}",
         f"/admin/stock-jobs/?search={term}"),
        (f"list: deep page (offset {deep * 25:,})", "list", f"/admin/jobs/?page={deep}",
         f"/admin/stock-jobs/?page={deep}"),
        ("KPI tiles", "kpi", None, None),
        ("detail page", "detail", f"/admin/jobs/details/?id={detail_id}",
         f"/admin/stock-jobs/details/?id={detail_id}"),
        ("row refresh (25 rows)", "rows", f"/admin/jobs/rows?{refresh}", None),
    ]  # fmt: skip


def measure(func: Any, repeat: int, budget: float) -> list[float]:
    for _ in range(2):
        func()
    times: list[float] = []
    t_end = time.perf_counter() + budget
    while len(times) < repeat and (len(times) < 5 or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return times


def bare_copy(backend: str, n: int) -> str:
    """A copy of the dataset whose jobs table has its primary key only: a host's own table."""
    import sqlalchemy as sa

    from host_app.extensions import jobs

    url = copy_of(backend, n, "mix", BARE)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for idx in jobs.Job.__table__.indexes:
            conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{idx.name}"')
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return url


def run_one(
    backend: str, n: int, repeat: int, budget: float, bare: bool = False
) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from host_app.extensions import db, jobs

    url = dataset(backend, n)
    app = make_app(url)
    # Templates compiled once and kept, as in production (a debug app re-reads them).
    assert not app.jinja_env.auto_reload, "the benchmark app would reload its templates"
    admin = app.extensions["admin"][0]
    admin.add_view(stock_view(jobs, db))
    client = app.test_client()
    r = login(client, "admin")
    assert r.status_code in (302, 303)
    with app.app_context():
        j = jobs.Job.__table__
        detail_id = db.session.execute(
            sa.select(j.c.id).where(j.c.status == "partial").order_by(j.c.id.desc()).limit(1)
        ).scalar()
        first_ids = list(
            db.session.scalars(
                sa.select(j.c.id).order_by(j.c.created_at.desc(), j.c.id.desc()).limit(25)
            )
        )
        db.session.remove()

    def getter(path: str) -> Any:
        def get() -> None:
            resp = client.get(path)
            resp.get_data()
            if (
                resp.status_code != 200
                or b"alert-danger" in resp.data
                or b"Invalid value" in resp.data
            ):
                raise RuntimeError(f"{path}: HTTP {resp.status_code} or an error flash")
            resp.close()

        return get

    def our_kpis() -> None:
        with app.test_request_context("/admin/jobs/"):
            jobs.counts()
            db.session.remove()

    def stock_kpis() -> None:
        with app.test_request_context("/admin/stock-jobs/"):
            db.session.execute(sa.select(j.c.status, sa.func.count()).group_by(j.c.status)).all()
            db.session.remove()

    rows = []
    for label, kind, ours, stock in cases(n, detail_id, first_ids):
        f_ours = our_kpis if kind == "kpi" else getter(ours)  # type: ignore[arg-type]
        t_ours = measure(f_ours, repeat, budget)
        t_stock: list[float] = []
        if kind == "kpi" or stock is not None:
            f_stock = stock_kpis if kind == "kpi" else getter(stock)  # type: ignore[arg-type]
            t_stock = measure(f_stock, repeat, budget)
        row = {
            "backend": backend,
            "size": n,
            "case": label,
            "kind": kind,
            "ours_median": median(t_ours),
            "ours_p95": pct(t_ours, 0.95),
            "ours_n": len(t_ours),
            "stock_median": median(t_stock),
            "stock_p95": pct(t_stock, 0.95),
            "stock_n": len(t_stock),
        }
        rows.append(row)
        print(
            f"{backend:10} {human(n):>5} {label:34} ours {ms(row['ours_median']):>7} ms "
            f"(p95 {ms(row['ours_p95'])}, n={len(t_ours)})  stock {ms(row['stock_median']):>7} ms "
            f"(p95 {ms(row['stock_p95'])}, n={len(t_stock)})  {ratio(row['stock_median'], row['ours_median'])}",  # noqa: E501
            flush=True,
        )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if bare:
        bare_url = bare_copy(backend, n)
        try:
            app = make_app(bare_url)
            app.extensions["admin"][0].add_view(stock_view(jobs, db))
            client = app.test_client()
            login(client, "admin")
            for row, (_label, kind, _ours, stock) in zip(
                rows, cases(n, detail_id, first_ids), strict=True
            ):
                if kind != "kpi" and stock is None:
                    continue
                t_bare = measure(stock_kpis if kind == "kpi" else getter(stock), repeat, budget)  # type: ignore[arg-type]
                row.update(
                    bare_median=median(t_bare), bare_p95=pct(t_bare, 0.95), bare_n=len(t_bare)
                )
                print(
                    f"{backend:10} {human(n):>5} {row['case']:34} stock on a table without "
                    f"jobs_admin's indexes {ms(row['bare_median']):>7} ms (n={len(t_bare)})  "
                    f"{ratio(row['bare_median'], row['ours_median'])}",
                    flush=True,
                )
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        finally:
            drop_copy(backend, BARE)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(what, where, met) for the 1M rows."""
    out = []
    for r in rows:
        if r["size"] != 1_000_000 or r["kind"] == "detail":
            continue
        where = f"{r['backend']}: {r['case']}"
        if r["kind"] == "search":
            out.append(
                (
                    f"median < 150 ms ({ms(r['ours_median'])} ms)",
                    where,
                    r["ours_median"] < SEARCH_TARGET,
                )
            )
        else:
            out.append(
                (
                    f"median < 50 ms ({ms(r['ours_median'])} ms)",
                    where,
                    r["ours_median"] < LIST_TARGET,
                )
            )
        if r["kind"] in ("filter", "search"):
            x = r["stock_median"] / r["ours_median"]
            extra = ""
            if "bare_median" in r:
                extra = f"; on a bare table {r['bare_median'] / r['ours_median']:.1f}x"
            out.append((f"≥ 5x the stock view ({x:.1f}x{extra})", where, x >= STOCK_FACTOR))
    return out


def report(rows: list[dict[str, Any]], machine: str, seconds: float) -> str:
    body = [machine, ""]
    body.append(
        "Server time of one request (Flask test client, logged in as admin, body read), median "
        "and p95 in ms; *n* is the number of timed requests after two warm-ups. *stock* is a "
        "plain `flask_admin.contrib.sqla.ModelView` on the same table in the same `Admin`, with "
        "the same filters and searchable columns (`status`, `type`, `created_by`, a `created_at` "
        "greater-than filter made timezone-aware; search on name, reference, created_by) and "
        "newest-first sorting. *KPI tiles*: ours reads the per-status counters (`jobs.counts()`); "
        "the stock figure is the `GROUP BY status` a host would run for the same tiles. The "
        "search term is a substring of names and references (`12345`: a few dozen matches). "
        "The stock view on the same table benefits from jobs_admin's composite and trigram "
        "indexes; *stock, bare table* (at the sizes given to `--bare-sizes`) runs the same stock "
        "view on a copy whose jobs table keeps only its primary key: a host's own table without "
        "jobs_admin."
    )
    body.append("")
    for backend in dict.fromkeys(r["backend"] for r in rows):
        body.append(f"### {backend}")
        body.append("")
        sel = [r for r in rows if r["backend"] == backend]
        body.append(
            table(
                [
                    "jobs",
                    "page",
                    "ours median",
                    "ours p95",
                    "stock median",
                    "stock p95",
                    "stock / ours",
                    "stock, bare table",
                    "bare / ours",
                ],
                [
                    [
                        human(r["size"]),
                        r["case"],
                        ms(r["ours_median"]),
                        ms(r["ours_p95"]) + (f" (n={r['ours_n']})" if r["ours_n"] < 20 else ""),
                        ms(r["stock_median"]),
                        ms(r["stock_p95"])
                        + (f" (n={r['stock_n']})" if 0 < r["stock_n"] < 20 else ""),
                        ratio(r["stock_median"], r["ours_median"]),
                        ms(r["bare_median"]) if "bare_median" in r else "",
                        ratio(r["bare_median"], r["ours_median"]) if "bare_median" in r else "",
                    ]
                    for r in sel
                ],
            )
        )
        body.append("")
    tg = targets(rows)
    if tg:
        body.append("### Targets at 1,000,000 jobs")
        body.append("")
        body.append(table(["where", "target", "result"], [[w, t, verdict(ok)] for t, w, ok in tg]))
        body.append("")
    body.append(f"This run took {seconds / 60:.1f} min.")
    return "\n".join(body)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default=",".join(str(s) for s in FULL_SIZES))
    p.add_argument("--backends", type=parse_backends, default="sqlite,postgresql")
    p.add_argument("--repeat", type=int, default=20, help="timed requests per case (default 20)")
    p.add_argument(
        "--budget",
        type=float,
        default=12.0,
        help="seconds per case before stopping early (at least 5 requests)",
    )
    p.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone"
    )
    p.add_argument(
        "--bare-sizes",
        default="1000000",
        help="sizes at which to also time the stock view on a table without jobs_admin's indexes"
        " ('' for none)",
    )
    args = p.parse_args()
    m = print_machine()
    bare_sizes = set(parse_sizes(args.bare_sizes))
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for backend in args.backends:
        for n in parse_sizes(args.sizes):
            rows += run_one(backend, n, args.repeat, args.budget, n in bare_sizes)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "admin_pages.json").write_text(json.dumps(rows, indent=1))
    for what, where, ok in targets(rows):
        print(f"target {'met   ' if ok else 'MISSED'} {where}: {what}")
    if not args.no_write:
        write_section(
            "admin-pages",
            "1. Admin pages: jobs_admin vs a stock Flask-Admin ModelView",
            report(rows, machine_line(m), time.perf_counter() - t0),
        )


if __name__ == "__main__":
    main()
