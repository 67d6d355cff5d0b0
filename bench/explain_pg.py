"""EXPLAIN (ANALYZE, BUFFERS) of every query jobs_admin runs, at 1,000,000 jobs on PostgreSQL.

Builds (or reuses, see ``_dataset.py``) a PostgreSQL database with the real schema and a million
generated jobs, runs ``ANALYZE``, then captures the SQL the code really emits (a SQLAlchemy
``before_cursor_execute`` listener on the engine) while it

* requests the admin pages through a logged-in test client (list, KPI tiles, every filter, the
  date presets and range, search, deep pages, the capped count, the detail page, a viewer's list,
  the CSV export), and
* calls the real store functions (enqueue, claim, heartbeat, progress, finish, rescue, cancel,
  retry, delete, a housekeeping prune batch, count_prunable, recount) in transactions that are
  rolled back,

and runs ``EXPLAIN (ANALYZE, BUFFERS)`` on each distinct statement with its real parameters (DML
in a transaction that is rolled back). Writes ``docs/postgresql-plans.md``: per query the SQL,
the plan, the timing and a verdict ("no Seq Scan on jobs_admin_job" or the problem).

Usage: ``python bench/explain_pg.py [--size 1000000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, human, login, machine_line, make_app, print_machine
from _dataset import dataset

DOC = ROOT / "docs" / "postgresql-plans.md"

#: Tables whose sequential scan is a problem on a hot path.
BIG_TABLES = ("jobs_admin_job", "jobs_admin_job_event")
SEQ_SCAN = re.compile(r"Seq Scan on (jobs_admin_job(?:_event)?)\b(?!_count)")
ROWS_REMOVED = re.compile(r"Rows Removed by Filter: (\d+)")
EXEC_TIME = re.compile(r"Execution Time: ([\d.]+) ms")
PLAN_TIME = re.compile(r"Planning Time: ([\d.]+) ms")

#: What a flagged plan's cause is, found by reading the plan and the code (keyed by query label).
#: Filled in by hand after a run; a flagged query without an entry says "cause: see the plan".
CAUSES: dict[str, str] = {
    "list: search common word": (
        "Cause: the capped count of `JobView._count` (jobs_admin/admin/_list.py: `SELECT count(*)"
        " FROM (SELECT id ... WHERE <search_clause> LIMIT 10001)`) for a word in ~20 % of the"
        " names. The planner expects ~220,000 matches and picks a Seq Scan that stops at the"
        " 10,001st (about 47,000 rows read): bounded by the LIMIT, so fast here. The risk is a"
        " term whose trigram estimate is high but that is really rare: the same plan then reads"
        " up to the whole table. Fix idea: count the ids from the trigram and equality arms"
        " (a UNION of index scans, each LIMITed) instead of one OR, or skip the count for"
        " searches (simple pager)."
    ),
    "list: status filter deep page": (
        "Cause: OFFSET pagination (`JobView.get_list` -> Flask-Admin `_apply_pagination`): for a"
        " status holding 85 % of the rows the planner walks `ix_jobs_admin_job_created` backwards"
        " and filters on status, reading offset + 25 rows plus the other statuses it skips."
        " Linear in the page number (about 10x this at offset 500,000). Fix idea: the keyset"
        " pagination DESIGN.md asks for (`WHERE (created_at, id) < (:last_created, :last_id)`),"
        " which reads 25 rows whatever the depth."
    ),
    "list: deep page (offset 50,000)": (
        "Cause: OFFSET pagination reads and discards 50,000 index entries and heap rows. Fix"
        " idea: keyset pagination on (created_at, id), as above."
    ),
    "export.csv: status filter": (
        "No LIMIT: the 68,000 matching rows are sorted in memory and spill past `work_mem`"
        " (4 MB). Off the hot path; the export streams (`yield_per`, a server-side cursor on"
        " PostgreSQL, where `cursor_tuple_fraction` favours the index-ordered plan)."
    ),
    "recount (flask jobs recount)": (
        "By design: `JobStore.recount` groups the whole table (the CLI's `flask jobs recount`)."
    ),
    "housekeeping: count prunable": (
        "Reads every prunable row's index entry and heap row (`count_prunable`, used by"
        " `flask jobs prune --dry-run` only)."
    ),
    "housekeeping: prune batch": (
        "One statement per batch (`PostgreSQLStore._prune_sql`); the foreign keys' triggers"
        " delete the events and clear retry links (their time is listed under the plan)."
    ),
}


@dataclass
class Query:
    label: str
    statement: str
    params: Any
    hot: bool
    seen_in: list[str] = field(default_factory=list)
    sql: str = ""
    plan: str = ""
    exec_ms: float = 0.0
    plan_ms: float = 0.0
    problems: list[str] = field(default_factory=list)


class Capture:
    """Collects the statements the engine sends while ``on``."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.on = False
        self.items: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if not self.on:
            return
        if executemany and isinstance(parameters, list | tuple) and parameters:
            parameters = parameters[0]
        self.items.append((statement, parameters))

    def run(self, func: Callable[[], Any]) -> list[tuple[str, Any]]:
        self.items = []
        self.on = True
        try:
            func()
        finally:
            self.on = False
        return [(s, p) for s, p in self.items if "jobs_admin_job" in s]


def _key(statement: str, params: Any) -> str:
    return statement + "\x00" + repr(sorted(params.items()) if isinstance(params, dict) else params)


def _mogrify(raw: Any, statement: str, params: Any) -> str:
    import psycopg

    try:
        return psycopg.ClientCursor(raw).mogrify(statement, params)
    except Exception:
        return f"{statement}\n-- params: {params!r}"


def _pretty(sql: str) -> str:
    """Line breaks before the main clauses, so a long statement reads in the doc."""
    out = re.sub(
        r"(?<!TIME)\s+(FROM|WHERE|ORDER BY|GROUP BY|LIMIT|OFFSET|RETURNING|SET|VALUES|ON CONFLICT|UNION|WITH|UPDATE|INSERT|SELECT)\b",  # noqa: E501
        lambda m: "\n" + m.group(1),
        sql,
    )
    return out.strip()


def _analyse(q: Query, plan: str) -> None:
    q.plan = plan
    m = EXEC_TIME.search(plan)
    q.exec_ms = float(m.group(1)) if m else float("nan")
    m = PLAN_TIME.search(plan)
    q.plan_ms = float(m.group(1)) if m else float("nan")
    q.problems = []
    for table in sorted(set(SEQ_SCAN.findall(plan))):
        q.problems.append(f"Seq Scan on {table}")
    removed = max((int(x) for x in ROWS_REMOVED.findall(plan)), default=0)
    if removed > 10_000:
        q.problems.append(f"{removed:,} rows read and removed by a filter")
    if "external merge" in plan:
        q.problems.append("sort spills to disk")
    if q.hot and q.exec_ms > 50:
        q.problems.append(f"{q.exec_ms:.0f} ms on a hot path")


def explain_group(engine: Any, group: list[tuple[str, Any, Query | None]], some_job: int) -> None:
    """Replay one scenario's statements in order in one transaction (rolled back), explaining
    those it owns, so that each sees what the statements before it did (as in the real code).

    A statement that cannot be replayed (it names a row an earlier statement made with a
    different id, e.g. an event of the just-inserted job) gets an estimated plan instead.
    """
    for attempt in range(2):  # the first run warms the cache; keep the second
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            trans = conn.begin()
            try:
                for n, (stmt, params, q) in enumerate(group):
                    sp = f"sp{n}"
                    conn.exec_driver_sql(f"SAVEPOINT {sp}")
                    try:
                        if q is None:
                            conn.exec_driver_sql(stmt, params or None)
                            continue
                        rows = conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS) " + stmt, params or None
                        ).fetchall()
                        plan = "\n".join(r[0] for r in rows)
                    except Exception as exc:
                        conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {sp}")
                        if q is None:
                            continue
                        if (
                            isinstance(params, dict)
                            and "job_id" in params
                            and "foreign key" in str(exc)
                        ):
                            # The event of a job inserted earlier in the transaction, which got a
                            # new id on replay: the same insert for an existing job.
                            swapped = {**params, "job_id": some_job}
                            rows = conn.exec_driver_sql(
                                "EXPLAIN (ANALYZE, BUFFERS) " + stmt, swapped
                            ).fetchall()
                            plan = "\n".join(r[0] for r in rows) + (
                                f"\n(replayed with job_id={some_job}: the job inserted before it"
                                " got another id on replay)"
                            )
                            if attempt == 1:
                                q.sql = _pretty(_mogrify(raw, stmt, params))
                                _analyse(q, plan)
                            continue
                        rows = conn.exec_driver_sql("EXPLAIN " + stmt, params or None).fetchall()
                        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
                        plan = "\n".join(r[0] for r in rows) + (
                            f"\n(estimated plan only: replaying it alone failed: {reason})"
                        )
                    if attempt == 1:
                        q.sql = _pretty(_mogrify(raw, stmt, params))
                        _analyse(q, plan)
            finally:
                trans.rollback()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--size", type=int, default=1_000_000, help="jobs in the dataset (default 1,000,000)"
    )
    args = p.parse_args()
    m = print_machine()
    t_start = time.perf_counter()
    url = dataset("postgresql", args.size)
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from jobs_admin.config import PRUNE_BATCH_POSTGRESQL
    from jobs_admin.models import JobStatus, utcnow

    app = make_app(url)
    with app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
            j = jobs.Job.__table__
            pick = lambda stmt: conn.execute(stmt).first()  # noqa: E731
            ref_row = pick(
                sa.select(j.c.id, j.c.reference)
                .where(j.c.reference.is_not(None), j.c.id >= args.size // 2)
                .order_by(j.c.id)
                .limit(1)
            )
            running = conn.execute(
                sa.select(j.c.id, j.c.worker)
                .where(j.c.status == "running")
                .order_by(j.c.id)
                .limit(8)
            ).all()
            pending_id = pick(
                sa.select(j.c.id).where(j.c.status == "pending").order_by(j.c.id).limit(1)
            )[0]
            failed_id = pick(
                sa.select(j.c.id).where(j.c.status == "failed").order_by(j.c.id.desc()).limit(1)
            )[0]
            partial_id = pick(
                sa.select(j.c.id).where(j.c.status == "partial").order_by(j.c.id.desc()).limit(1)
            )[0]
            done_id = pick(
                sa.select(j.c.id).where(j.c.status == "completed").order_by(j.c.id.desc()).limit(1)
            )[0]
    worker = running[0].worker
    mine = [r.id for r in running if r.worker == worker] or [running[0].id]
    today = dt.datetime.now(dt.UTC).date()
    rng = f"{today - dt.timedelta(days=20)} to {today - dt.timedelta(days=10)}"
    mid_id = args.size // 2 + 345
    rare = str(12345 if args.size >= 100_000 else 1234)

    capture = Capture(engine)
    client = app.test_client()
    viewer = app.test_client()
    for c, who in ((client, "admin"), (viewer, "viewer")):
        r = login(c, who)
        assert r.status_code in (302, 303), r.status_code

    # (label, client, path, hot)
    pages: list[tuple[str, Any, str, bool]] = [
        ("list: first page (KPI tiles, total from counters)", client, "/admin/jobs/", True),
        ("list: status filter failed", client, "/admin/jobs/?flt0_status_equals=failed", True),
        ("list: status filter pending", client, "/admin/jobs/?flt0_status_equals=pending", True),
        ("list: type filter", client, "/admin/jobs/?flt0_type_equals=bench.type07", True),
        ("list: created_by filter", client, "/admin/jobs/?flt0_created_by_equals=alice", True),
        ("list: date preset today", client, "/admin/jobs/?flt0_created_within=today", True),
        ("list: date preset 7 days", client, "/admin/jobs/?flt0_created_within=7d", True),
        ("list: date preset 30 days", client, "/admin/jobs/?flt0_created_within=30d", True),
        ("list: date range", client, f"/admin/jobs/?flt0_created_between={rng}", True),
        (
            "list: type + 7 days",
            client,
            "/admin/jobs/?flt0_type_equals=bench.type07&flt1_created_within=7d",
            True,
        ),
        (
            "list: rare type + 30 days",
            client,
            "/admin/jobs/?flt0_type_equals=bench.type15&flt1_created_within=30d",
            True,
        ),
        (
            "list: status + 7 days",
            client,
            "/admin/jobs/?flt0_status_equals=failed&flt1_created_within=7d",
            True,
        ),
        (
            "list: status + user",
            client,
            "/admin/jobs/?flt0_status_equals=failed&flt1_created_by_equals=alice",
            True,
        ),
        ("list: search rare substring", client, f"/admin/jobs/?search={rare}", True),
        ("list: search common word", client, "/admin/jobs/?search=catalog", True),
        ("list: search exact id", client, f"/admin/jobs/?search=%23{mid_id}", True),
        ("list: search exact reference", client, f"/admin/jobs/?search={ref_row.reference}", True),
        (
            "list: search + status",
            client,
            f"/admin/jobs/?search={rare}&flt0_status_equals=completed",
            True,
        ),
        ("list: deep page (offset 50,000)", client, "/admin/jobs/?page=2000", True),
        (
            "list: status filter deep page",
            client,
            "/admin/jobs/?flt0_status_equals=completed&page=2000",
            True,
        ),
        ("list: sorted by duration", client, "/admin/jobs/?sort=3&desc=1", True),
        ("list: viewer (own jobs only)", viewer, "/admin/jobs/", True),
        ("list: viewer status filter", viewer, "/admin/jobs/?flt0_status_equals=completed", True),
        ("detail page", client, f"/admin/jobs/details/?id={partial_id}", True),
        (
            "export.csv: status filter",
            client,
            "/admin/jobs/export.csv?flt0_status_equals=failed",
            False,
        ),
    ]

    queries: dict[str, Query] = {}
    groups: list[list[tuple[str, Any, Query | None]]] = []

    def record(label: str, items: list[tuple[str, Any]], hot: bool) -> None:
        group: list[tuple[str, Any, Query | None]] = []
        for n, (stmt, params) in enumerate(items, 1):
            k = _key(stmt, params)
            if k in queries:
                queries[k].seen_in.append(label)
                group.append((stmt, params, None))
                continue
            name = label if len(items) == 1 else f"{label} [{n}]"
            queries[k] = Query(name, stmt, params, hot, [label])
            group.append((stmt, params, queries[k]))
        groups.append(group)

    for label, c, path, hot in pages:
        c.get(path).close()  # warm-up

        def get(c: Any = c, path: str = path) -> None:
            r = c.get(path)
            r.get_data()
            assert r.status_code == 200, (path, r.status_code)
            r.close()

        record(label, capture.run(get), hot)

    store = jobs.store

    def in_rollback(func: Callable[[Any], Any]) -> Callable[[], None]:
        def run() -> None:
            with app.app_context(), engine.connect() as conn:
                trans = conn.begin()
                try:
                    func(conn)
                finally:
                    trans.rollback()

        return run

    def enqueue() -> None:
        with app.test_request_context():
            jobs.enqueue("bench.noop", name="Bench enqueue", reference="PO-1")
            db.session.rollback()
            db.session.remove()

    cutoff = utcnow() - dt.timedelta(days=30)
    store_calls: list[tuple[str, Callable[[], None], bool]] = [
        ("enqueue", enqueue, True),
        ("claim (4 slots)", in_rollback(lambda c: store.claim(c, "bench:1:claim", 4)), True),
        ("heartbeat", in_rollback(lambda c: store.heartbeat(c, worker, mine)), True),
        (
            "progress",
            in_rollback(lambda c: store.progress(c, mine[0], worker, {"progress_done": 7})),
            True,
        ),
        (
            "finish (completed)",
            in_rollback(
                lambda c: store.finish(c, mine[0], worker, JobStatus.COMPLETED, {"result": None})
            ),
            True,
        ),
        (
            "finish (retry: back to pending)",
            in_rollback(
                lambda c: store.finish(
                    c, mine[0], worker, JobStatus.PENDING, {"error": "x"}, retry=True
                )
            ),
            True,
        ),
        ("rescue", in_rollback(lambda c: store.rescue(c, 60)), True),
        (
            "cancel (pending job)",
            in_rollback(lambda c: store.cancel(c, pending_id, "admin", True)),
            False,
        ),
        ("retry (failed job)", in_rollback(lambda c: store.retry(c, failed_id, "admin", 1)), False),
        ("delete (finished job)", in_rollback(lambda c: store.delete(c, done_id)), False),
        (
            "housekeeping: prune batch",
            in_rollback(lambda c: store.prune_batch(c, cutoff, PRUNE_BATCH_POSTGRESQL)),
            False,
        ),
        (
            "housekeeping: count prunable",
            in_rollback(lambda c: store.count_prunable(c, cutoff)),
            False,
        ),
        ("recount (flask jobs recount)", in_rollback(lambda c: store.recount(c)), False),
    ]
    for label, func, hot in store_calls:
        record(label, capture.run(func), hot)

    print(f"captured {len(queries)} distinct statements; explaining ...", flush=True)
    for group in groups:
        explain_group(engine, group, done_id)
    for q in queries.values():
        flag = "OK " if not q.problems else "!! "
        print(
            f"{flag}{q.exec_ms:9.2f} ms  {q.label}"
            + (f"  -- {'; '.join(q.problems)}" if q.problems else ""),
            flush=True,
        )

    write_doc(list(queries.values()), args.size, machine_line(m), time.perf_counter() - t_start)


def write_doc(queries: list[Query], size: int, machine: str, seconds: float) -> None:
    hot_problems = [q for q in queries if q.hot and q.problems]
    lines = [
        "# PostgreSQL query plans at " + f"{size:,} jobs",
        "",
        "Written by `bench/explain_pg.py` (rerun it to refresh this file). The SQL below is what the",  # noqa: E501
        "code really sends: a `before_cursor_execute` listener recorded it while the script requested",  # noqa: E501
        "the admin pages through a logged-in test client and called the store's functions (in",
        "transactions rolled back afterwards). Each distinct statement was then run under",
        "`EXPLAIN (ANALYZE, BUFFERS)` with its real parameters (twice; the second, warm run is shown).",  # noqa: E501
        "",
        f"Dataset: {size:,} jobs and their events from `bench/_dataset.py` (a status mix with a",
        "pending backlog among the newest jobs, 20 types, 20 users and system jobs, 60 days of",
        "history), `ANALYZE`d. " + machine + f" The run took {seconds:.0f} s.",
        "",
        "Verdicts: **OK** means no sequential scan of `jobs_admin_job` or `jobs_admin_job_event`, no",  # noqa: E501
        "filter discarding more than 10,000 rows, no sort spilling to disk, and (on a hot path) under",  # noqa: E501
        "50 ms. Hot paths: the admin list, KPI tiles, detail page and the worker's statements.",
        "",
        "## Summary",
        "",
        "| query | hot | execution ms | verdict |",
        "|---|---|---|---|",
    ]
    for i, q in enumerate(queries, 1):
        verdict = (
            "OK: no Seq Scan on jobs_admin_job"
            if not q.problems
            else "**" + "; ".join(q.problems) + "**"
        )
        lines.append(
            f"| [{q.label}](#q{i}) | {'yes' if q.hot else 'no'} | {q.exec_ms:.2f} | {verdict} |"
        )
    lines += ["", "## Problems on hot paths", ""]
    if not hot_problems:
        lines.append("None.")
    for q in hot_problems:
        cause = CAUSES.get(
            q.label.split(" [")[0], CAUSES.get(q.label, "cause: see the plan below.")
        )
        lines.append(f"- **{q.label}**: {'; '.join(q.problems)}. {cause}")
    other = [q for q in queries if not q.hot and q.problems]
    if other:
        lines += ["", "Off the hot path (housekeeping, admin actions, export, recount):", ""]
        for q in other:
            cause = CAUSES.get(q.label.split(" [")[0], CAUSES.get(q.label, "see the plan below."))
            lines.append(f"- {q.label}: {'; '.join(q.problems)}. {cause}")
    lines += ["", "## Plans", ""]
    for i, q in enumerate(queries, 1):
        verdict = (
            "OK: no Seq Scan on jobs_admin_job"
            if not q.problems
            else "PROBLEM: " + "; ".join(q.problems)
        )
        lines += [
            f'<a id="q{i}"></a>',
            f"### {i}. {q.label}",
            "",
            f"Seen in: {', '.join(dict.fromkeys(q.seen_in))}. Hot path: {'yes' if q.hot else 'no'}.",  # noqa: E501
            f"Execution {q.exec_ms:.2f} ms, planning {q.plan_ms:.2f} ms. **{verdict}**",
            "",
            "```sql",
            q.sql[:6000] + (" …(truncated)" if len(q.sql) > 6000 else ""),
            "```",
            "",
            "```",
            q.plan,
            "```",
            "",
        ]
    DOC.write_text("\n".join(lines) + "\n")
    print(f"wrote {DOC.relative_to(ROOT)} ({len(queries)} queries, {human(size)} jobs)")


if __name__ == "__main__":
    main()
