"""Fast bulk generation of realistic job histories, cached between runs.

``dataset("postgresql", 1_000_000)`` returns the SQLAlchemy URL of a database holding the real
schema (the demo host's ``db.create_all()``, trigram indexes included) and a million jobs: a
status mix, 20 types, 20 users and system jobs, ``created_at`` spread over 60 days, names and
references to search, and 2-6 events per job. Rows go in by ``COPY`` (PostgreSQL) or one large
``executemany`` (SQLite) with the secondary indexes dropped and rebuilt afterwards, then
``jobs.recount()`` makes the counters exact and ``ANALYZE`` gives the planner its statistics.

A dataset is kept (PostgreSQL: a database named ``jobs_admin_bench_<kind>_<size>``, or
``jobs_admin_bench_<tag>_<kind>_<size>`` with ``JOBS_ADMIN_BENCH_TAG`` set; SQLite: a file of that
name in ``bench/.cache/``) and reused while its schema fingerprint (the DDL of the jobs tables),
generator version and size still match and it is younger than ``MAX_AGE_DAYS``; so reruns are
fast. ``copy_of`` gives a throwaway copy for benchmarks that delete rows.

Kinds: ``mix`` (a live history: mostly finished, a pending backlog and running jobs among the
newest) and ``old`` (every job finished 31-90 days ago: what housekeeping deletes).

Alone: ``python bench/_dataset.py --backend postgresql --sizes 1m`` builds (or checks) datasets;
``--drop`` removes the cached ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_TYPES,
    CACHE,
    human,
    make_app,
    parse_backends,
    parse_sizes,
    pg_admin,
    pg_create,
    pg_drop,
    pg_exists,
    pg_url,
    register_bench_types,
)

#: Bump when the generator changes what it writes: cached datasets are rebuilt.
GEN_VERSION = 4
#: Cached datasets older than this are rebuilt (their dates drift out of the presets).
MAX_AGE_DAYS = 7
SEED = 20261101
META = "jobs_admin_bench_meta"

DEMO_TYPES = [
    ("catalog.export", "Export catalog"),
    ("products.import", "Import products"),
    ("search.reindex", "Reindex search"),
    ("reports.flaky", "Flaky report"),
    ("reports.broken", "Broken report"),
]
TYPES = DEMO_TYPES + [(name, name.split(".")[1].title()) for name in BENCH_TYPES]
#: Zipf-like: the most common type is ~10x as frequent as the rarest ones.
TYPE_WEIGHTS = [1 / (k + 1) ** 0.8 for k in range(len(TYPES))]
USERS = [
    "admin", "operator", "viewer", "alice", "bob", "carol", "dave", "erin", "frank", "grace",
    "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent",
]  # fmt: skip
USER_WEIGHTS = [1 / (k + 1) for k in range(len(USERS))]
#: Share of jobs with no user (enqueued by the system: cron, signals).
SYSTEM_SHARE = 0.15
WORDS = ("spring", "summer", "autumn", "winter", "clearance", "ACME", "Globex", "Initech", "Hooli")
FINISHED_WEIGHTS = {"completed": 0.86, "failed": 0.07, "partial": 0.04, "cancelled": 0.03}
#: Among the newest ACTIVE_TAIL share of jobs, this share is pending and this running.
ACTIVE_TAIL, PENDING_SHARE, RUNNING_SHARE = 0.04, 0.45, 0.03
WORKERS = [f"bench-host-{k}:{1000 + k}:a1b2c{k}" for k in range(4)]
TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/host_app/demo_jobs.py", line 431, in broken_report\n'
    "    totals = _aggregate(rows)\n"
    '  File "/srv/shop/host_app/demo_jobs.py", line 470, in _aggregate\n'
    "    return _warehouse_query(rows)\n"
    "ConnectionError: warehouse API timed out after 30 s\n"
)


# -- the schema ------------------------------------------------------------------------------


def _tables() -> tuple[Any, Any]:
    from host_app.extensions import jobs

    return jobs.Job.__table__, jobs.JobEvent.__table__


def fingerprint(dialect_name: str) -> str:
    """A hash of the DDL ``create_all`` emits on this dialect (tables, indexes and the DDL
    attached by events: extensions, FTS tables, triggers): a schema change invalidates the cache.
    """
    import sqlalchemy as sa

    from host_app.extensions import db

    register_bench_types()
    parts: list[str] = []
    engine = sa.create_mock_engine(
        f"{dialect_name}://",
        lambda sql, *a, **k: parts.append(str(sql.compile(dialect=engine.dialect))),
    )
    db.metadata.create_all(engine, checkfirst=False)
    # Only the jobs tables' DDL: the host's own tables appear once its models are imported.
    mine = sorted(p for p in parts if "jobs_admin" in p)
    return hashlib.sha1("\n".join(mine).encode()).hexdigest()[:16]


# -- the rows ------------------------------------------------------------------------------


def _pick(rng: random.Random, cum: list[float], items: list[Any]) -> Any:
    from bisect import bisect

    return items[bisect(cum, rng.random() * cum[-1])]


def _cum(weights: list[float]) -> list[float]:
    out, s = [], 0.0
    for w in weights:
        s += w
        out.append(s)
    return out


def generate(
    n: int, kind: str, now: dt.datetime
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield (job values, its events) for ids 1..n, oldest first."""
    rng = random.Random(SEED + n + (0 if kind == "mix" else 7))
    type_cum, user_cum = _cum(TYPE_WEIGHTS), _cum(USER_WEIGHTS)
    fin_names = list(FINISHED_WEIGHTS)
    fin_cum = _cum(list(FINISHED_WEIGHTS.values()))
    if kind == "mix":
        first, span = now - dt.timedelta(days=60), dt.timedelta(days=60) - dt.timedelta(minutes=2)
    elif kind == "old":
        first, span = now - dt.timedelta(days=91), dt.timedelta(days=60)
    else:
        raise ValueError(f"unknown dataset kind {kind!r}")
    span_s = span.total_seconds()
    tail_from = int(n * (1 - ACTIVE_TAIL)) if kind == "mix" else n + 1
    td = dt.timedelta
    for i in range(1, n + 1):
        created = first + td(seconds=span_s * (i - 1) / max(1, n - 1) + rng.random() * 0.5)
        type_name, title = _pick(rng, type_cum, TYPES)
        user = None if rng.random() < SYSTEM_SHARE else _pick(rng, user_cum, USERS)
        word = WORDS[i % len(WORDS)]
        name = f"{title} {word} #{i}"
        reference = f"PO-{rng.randint(10000, 9999999)}" if rng.random() < 0.6 else None
        if i >= tail_from:
            r = rng.random()
            status = (
                "pending"
                if r < PENDING_SHARE
                else "running"
                if r < PENDING_SHARE + RUNNING_SHARE
                else _pick(rng, fin_cum, fin_names)
            )
        else:
            status = _pick(rng, fin_cum, fin_names)
        total = rng.choice((None, 10, 50, 100, 500))
        job: dict[str, Any] = {
            "id": i,
            "type": type_name,
            "name": name,
            "reference": reference,
            "status": status,
            "phase": None,
            # A customer id (a number) and a feed (a string) each match a few dozen jobs in a
            # million: what a params search finds.
            "params": {
                "definition": word,
                "n": i % 97,
                "customer": {"id": i % 40000},
                "feed": f"F{i % 30011}",
            },
            "result": None,
            "result_file": None,
            "message": None,
            "error": None,
            "traceback": None,
            "progress_total": total,
            "progress_done": 0,
            "progress_failed": 0,
            "attempts": 0,
            "max_attempts": 1 if i % 5 else 3,
            "priority": 5 if i % 17 == 0 else 0,
            "run_at": created,
            "cancel_requested": False,
            "worker": None,
            "heartbeat_at": None,
            "created_by": user,
            "updated_by": user,
            "created_at": created,
            "started_at": None,
            "finished_at": None,
            "updated_at": created,
            "retry_of": None,
        }
        events = [
            {"at": created, "kind": "status", "level": "info", "message": "enqueued",
             "data": {"status": "pending"}}
        ]  # fmt: skip
        if status == "pending":
            if rng.random() < 0.2:
                job["run_at"] = now + td(hours=rng.uniform(1, 48))
            yield job, events
            continue
        if status == "cancelled" and rng.random() < 0.5:
            at = created + td(seconds=rng.uniform(5, 600))
            job.update(finished_at=at, updated_at=at, updated_by="operator", cancel_requested=True)
            events.append({"at": at, "kind": "action", "level": "info",
                           "message": "cancelled by operator",
                           "data": {"action": "cancel", "user": "operator"}})  # fmt: skip
            yield job, events
            continue
        started = created + td(seconds=rng.uniform(0.05, 3))
        worker = WORKERS[i % len(WORKERS)]
        job.update(attempts=1, started_at=started, worker=worker, heartbeat_at=started)
        events.append({"at": started, "kind": "status", "level": "info",
                       "message": f"started attempt 1 of {job['max_attempts']} on {worker}",
                       "data": {"status": "running", "attempt": 1, "worker": worker}})  # fmt: skip
        for k in range(rng.choice((0, 0, 1, 2))):
            events.append({"at": started + td(seconds=k + 1), "kind": "log", "level": "info",
                           "message": f"processed batch {k + 1}", "data": None})  # fmt: skip
        if status == "running":
            beat = now - td(seconds=rng.uniform(0, 8)) if rng.random() > 0.02 else started
            job.update(heartbeat_at=beat, phase="Processing", updated_at=beat,
                       progress_done=(total or 0) // 2)  # fmt: skip
            yield job, events
            continue
        end = started + td(seconds=rng.expovariate(1 / 40))
        job.update(finished_at=end, updated_at=end, phase=None, heartbeat_at=end)
        if status == "completed":
            job.update(progress_done=total or 0, result={"rows": total or 0}, message="done")
            events.append({"at": end, "kind": "status", "level": "info", "message": "completed",
                           "data": {"status": "completed"}})  # fmt: skip
        elif status == "partial":
            bad = rng.randint(1, 3)
            job.update(progress_done=(total or 10) - bad, progress_failed=bad,
                       progress_total=total or 10)  # fmt: skip
            for k in range(bad):
                events.append({"at": end, "kind": "item_failed", "level": "warning",
                               "message": f"SKU-{k}: not found", "data": {"key": f"SKU-{k}"}})  # fmt: skip  # noqa: E501
            events.append({"at": end, "kind": "status", "level": "warning",
                           "message": f"finished with {bad} failed item(s)",
                           "data": {"status": "partial"}})  # fmt: skip
        elif status == "failed":
            job.update(error="ConnectionError: warehouse API timed out after 30 s", traceback=TRACE)
            events.append({"at": end, "kind": "status", "level": "error",
                           "message": "failed: ConnectionError: warehouse API timed out after 30 s",
                           "data": {"status": "failed"}})  # fmt: skip
        else:  # cancelled while running
            job.update(message="cancelled", cancel_requested=True)
            events.append({"at": end, "kind": "status", "level": "warning", "message": "cancelled",
                           "data": {"status": "cancelled"}})  # fmt: skip
        yield job, events


# -- loading -------------------------------------------------------------------------------


def _sqlite_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _columns(table: Any) -> list[str]:
    return [c.name for c in table.columns]


def _row(values: dict[str, Any], columns: list[str], table: Any, sqlite: bool) -> tuple[Any, ...]:
    out = []
    for name in columns:
        if name in values:
            v = values[name]
        else:  # a column this generator does not know (added later): its scalar default
            default = table.c[name].default
            v = default.arg if default is not None and default.is_scalar else None
        if isinstance(v, dt.datetime):
            v = _sqlite_time(v) if sqlite else v
        elif isinstance(v, dict | list):
            v = json.dumps(v)
        elif isinstance(v, bool) and sqlite:
            v = int(v)
        out.append(v)
    return tuple(out)


def _build_schema(url: str) -> None:
    """The real schema: the demo host's ``create_all`` (trigram indexes, pg_trgm) + users."""
    from host_app.auth import ensure_demo_users
    from host_app.extensions import db

    app = make_app(url)
    with app.app_context():
        db.create_all()
        ensure_demo_users()
        db.session.remove()
        db.engine.dispose()


def _recount_and_meta(url: str, n: int, kind: str, fp: str, seconds: float) -> None:
    from host_app.extensions import db, jobs

    app = make_app(url)
    with app.app_context():
        counts = jobs.recount()
        assert counts["total"] == n, counts
        with db.engine.begin() as conn:
            import sqlalchemy as sa

            conn.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {META} (key VARCHAR(40) PRIMARY KEY, value TEXT)"
                )
            )
            conn.execute(sa.text(f"DELETE FROM {META}"))
            meta = {
                "rows": str(n),
                "kind": kind,
                "version": str(GEN_VERSION),
                "fingerprint": fp,
                "built_at": dt.datetime.now(dt.UTC).isoformat(),
                "build_seconds": f"{seconds:.1f}",
            }
            conn.execute(
                sa.text(f"INSERT INTO {META} (key, value) VALUES (:k, :v)"),
                [{"k": k, "v": v} for k, v in meta.items()],
            )
        db.engine.dispose()


def _load_pg(dbname: str, n: int, kind: str) -> None:
    import psycopg
    from _common import pg_conninfo

    job_t, ev_t = _tables()
    jcols, ecols = _columns(job_t), [c for c in _columns(ev_t) if c != "id"]
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(pg_conninfo(dbname)) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK trigger per row
        conn.execute("SET maintenance_work_mem = '1GB'")
        dropped = []
        for table in (job_t, ev_t):
            for idx in table.indexes:
                conn.execute(f'DROP INDEX IF EXISTS "{idx.name}"')
                dropped.append(idx)
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY {job_t.name} ({', '.join(jcols)}) FROM STDIN") as jcopy:
                events: list[tuple[Any, ...]] = []
                for job, evs in generate(n, kind, now):
                    jcopy.write_row(_row(job, jcols, job_t, False))
                    for e in evs:
                        e["job_id"] = job["id"]
                        events.append(_row(e, ecols, ev_t, False))
            print(
                f"  jobs copied in {time.perf_counter() - t0:.1f} s; {len(events):,} events",
                flush=True,
            )
            with cur.copy(f"COPY {ev_t.name} ({', '.join(ecols)}) FROM STDIN") as ecopy:
                for row in events:
                    ecopy.write_row(row)
            del events
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{job_t.name}', 'id'), {n})")
        conn.commit()
        print(f"  rows loaded in {time.perf_counter() - t0:.1f} s; building indexes", flush=True)
        t1 = time.perf_counter()
        conn.execute("SET session_replication_role = origin")
        conn.commit()
    # The indexes exactly as the metadata declares them (same DDL as create_all).
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url(dbname))
    with engine.begin() as sconn:
        sconn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        for idx in dropped:
            idx.create(sconn)
    engine.dispose()
    print(f"  indexes built in {time.perf_counter() - t1:.1f} s", flush=True)
    with psycopg.connect(pg_conninfo(dbname), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def _load_sqlite(path: Path, n: int, kind: str) -> None:
    job_t, ev_t = _tables()
    jcols, ecols = _columns(job_t), [c for c in _columns(ev_t) if c != "id"]
    now = dt.datetime.now(dt.UTC)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-500000")
    dropped = []
    for table in (job_t, ev_t):
        for idx in table.indexes:
            if idx.dialect_options["postgresql"].get("using"):
                continue  # PostgreSQL-only (trigram): never created on SQLite
            conn.execute(f'DROP INDEX IF EXISTS "{idx.name}"')
            dropped.append(idx)
    # Triggers on the jobs table (e.g. the ones that keep an FTS index) fire per row: drop them
    # for the load, recreate them after, and rebuild the external-content FTS tables at once.
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
        (job_t.name,),
    ).fetchall()
    for name, _sql in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    fts_tables = [
        name
        for (name, sql) in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%VIRTUAL%'"
        )
        if f"content='{job_t.name}'" in (sql or "").replace('"', "'")
    ]
    t0 = time.perf_counter()
    jsql = f"INSERT INTO {job_t.name} ({', '.join(jcols)}) VALUES ({', '.join('?' * len(jcols))})"
    esql = f"INSERT INTO {ev_t.name} ({', '.join(ecols)}) VALUES ({', '.join('?' * len(ecols))})"
    batch_j: list[tuple[Any, ...]] = []
    batch_e: list[tuple[Any, ...]] = []
    for job, evs in generate(n, kind, now):
        batch_j.append(_row(job, jcols, job_t, True))
        for e in evs:
            e["job_id"] = job["id"]
            batch_e.append(_row(e, ecols, ev_t, True))
        if len(batch_j) >= 50_000:
            conn.executemany(jsql, batch_j)
            conn.executemany(esql, batch_e)
            batch_j, batch_e = [], []
    conn.executemany(jsql, batch_j)
    conn.executemany(esql, batch_e)
    for name in fts_tables:
        conn.execute(f'INSERT INTO "{name}"("{name}") VALUES (\'rebuild\')')
    for _name, sql in triggers:
        conn.execute(sql)
    conn.commit()
    print(f"  rows loaded in {time.perf_counter() - t0:.1f} s; building indexes", flush=True)
    conn.close()
    import sqlalchemy as sa

    t1 = time.perf_counter()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as sconn:
        for idx in dropped:
            idx.create(sconn)
        sconn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"  indexes built in {time.perf_counter() - t1:.1f} s", flush=True)


# -- the cache -----------------------------------------------------------------------------


def _name(kind: str, n: int) -> str:
    # A tag keeps the datasets of work trees with different schemas apart (the fingerprint would
    # otherwise make two trees rebuild the same database in turn).
    tag = os.environ.get("JOBS_ADMIN_BENCH_TAG", "").strip()
    return f"jobs_admin_bench_{tag + '_' if tag else ''}{kind}_{human(n).lower()}"


def sqlite_path(kind: str, n: int) -> Path:
    return CACHE / f"{_name(kind, n)}.sqlite"


def url_of(backend: str, kind: str, n: int) -> str:
    if backend == "postgresql":
        return pg_url(_name(kind, n))
    return f"sqlite:///{sqlite_path(kind, n)}"


def _meta(url: str) -> dict[str, str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {k: v for k, v in conn.execute(sa.text(f"SELECT key, value FROM {META}"))}
    except Exception:
        return {}
    finally:
        engine.dispose()


def _fresh(url: str, backend: str, kind: str, n: int) -> bool:
    meta = _meta(url)
    if not meta:
        return False
    try:
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(meta["built_at"])
    except (KeyError, ValueError):
        return False
    return (
        meta.get("rows") == str(n)
        and meta.get("kind") == kind
        and meta.get("version") == str(GEN_VERSION)
        and meta.get("fingerprint") == fingerprint(backend)
        and age < dt.timedelta(days=MAX_AGE_DAYS)
    )


def dataset(backend: str, n: int, kind: str = "mix", rebuild: bool = False) -> str:
    """The URL of a database with ``n`` generated jobs (built now, or reused from the cache)."""
    backend = "postgresql" if backend in ("pg", "postgres", "postgresql") else "sqlite"
    url = url_of(backend, kind, n)
    exists = pg_exists(_name(kind, n)) if backend == "postgresql" else sqlite_path(kind, n).exists()
    if exists and not rebuild and _fresh(url, backend, kind, n):
        return url
    print(f"building dataset {kind} {human(n)} on {backend} ...", flush=True)
    t0 = time.perf_counter()
    if backend == "postgresql":
        pg_create(_name(kind, n))
        _build_schema(url)
        _load_pg(_name(kind, n), n, kind)
    else:
        path = sqlite_path(kind, n)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _build_schema(url)
        _load_sqlite(path, n, kind)
    _recount_and_meta(url, n, kind, fingerprint(backend), time.perf_counter() - t0)
    print(
        f"dataset {kind} {human(n)} on {backend} ready in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return url


def copy_of(backend: str, n: int, kind: str, copy_name: str) -> str:
    """A throwaway copy of a cached dataset (for benchmarks that delete); drop with ``drop_copy``."""  # noqa: E501
    dataset(backend, n, kind)
    if backend == "postgresql":
        pg_create(copy_name, template=_name(kind, n))
        return pg_url(copy_name)
    dest = CACHE / f"{copy_name}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(sqlite_path(kind, n), dest)
    return f"sqlite:///{dest}"


def drop_copy(backend: str, copy_name: str) -> None:
    if backend == "postgresql":
        pg_drop(copy_name)
    else:
        dest = CACHE / f"{copy_name}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{dest}{suffix}").unlink(missing_ok=True)


def drop_all() -> None:
    with pg_admin() as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'jobs_admin_bench_%'"
            )
        ]
    for name in names:
        pg_drop(name)
        print(f"dropped database {name}")
    if CACHE.exists():
        shutil.rmtree(CACHE)
        print(f"removed {CACHE}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--backend",
        type=parse_backends,
        default="both",
        help="postgresql, sqlite, both, or a comma-separated list",
    )
    p.add_argument("--sizes", default="10k,100k,1m")
    p.add_argument("--kind", default="mix", choices=("mix", "old"))
    p.add_argument("--rebuild", action="store_true", help="rebuild even if cached")
    p.add_argument("--drop", action="store_true", help="drop every cached dataset and exit")
    args = p.parse_args()
    if args.drop:
        drop_all()
        return
    for backend in args.backend:
        for n in parse_sizes(args.sizes):
            print(dataset(backend, n, args.kind, args.rebuild))


if __name__ == "__main__":
    main()
