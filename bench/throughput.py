"""Worker throughput and enqueue-to-start latency, side by side with Procrastinate, RQ and pgbench.

Throughput: ``--jobs`` no-op jobs are enqueued first (the real ``jobs.enqueue``, committed in
batches), then worker processes are started and given a go signal at the same instant; the
figure is jobs / seconds from the go signal until every job has ended (each process polls the
counters). Configurations: one jobs_admin worker process with 1, 4 and 8 threads on SQLite and
PostgreSQL, and 4 processes x 4 threads on PostgreSQL. Peers in the same run, with their
documented APIs: Procrastinate (``App(connector=PsycopgConnector(...))``, a no-op task,
``batch_defer``, ``app.run_worker(wait=False, concurrency=N)``) on the same PostgreSQL server,
and RQ (``Queue.enqueue_many``, ``SimpleWorker(...).work(burst=True)``) on Redis at 127.0.0.1.
The floor: ``pgbench -N -T 10 -c 4`` transactions per second on the same server.

Latency: from just before ``enqueue(..., commit=True)`` to the first line of the job function,
over ``--latency-jobs`` jobs enqueued one at a time; "same process" runs the worker in the
enqueuing process (woken by the commit), "other process" in a separate ``flask jobs worker``-like
process (woken by ``LISTEN/NOTIFY`` on PostgreSQL; on SQLite the idle dispatcher looks at
``PRAGMA data_version`` every 20 ms). The peers' latency is measured the same way.

Targets (issue 6): at least 1,000 jobs/s per worker process on PostgreSQL, at least 2x
Procrastinate, enqueue-to-start p50 under 10 ms in-process and under 50 ms across processes.

Usage: ``python bench/throughput.py [--jobs 4000] [--latency-jobs 100] [--skip-peers]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REDIS_URL,
    machine_line,
    make_app,
    median,
    ms,
    pct,
    pg_conninfo,
    pg_create,
    pg_drop,
    pg_url,
    print_machine,
    table,
    verdict,
    write_section,
)

HERE = Path(__file__).resolve()


# -- children --------------------------------------------------------------------------------


def _wait_file(path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.001)


def child_ours(a: argparse.Namespace) -> None:
    from host_app.extensions import db, jobs

    app = make_app(a.url, JOBS_ADMIN_CONCURRENCY=a.threads)
    with app.app_context():
        with db.engine.connect() as conn:
            jobs.store.counts(conn)
        Path(a.ready).touch()
        _wait_file(a.go)
        t0 = time.perf_counter()
        jobs.start_worker(a.threads)
        done = 0
        deadline = time.monotonic() + a.timeout
        while time.monotonic() < deadline:
            with db.engine.connect() as conn:
                c = jobs.store.counts(conn)
            done = c["completed"] + c["failed"]
            if done >= a.expect:
                break
            time.sleep(0.01)
        t1 = time.perf_counter()
        jobs.stop_worker(wait=True)
    Path(a.result).write_text(json.dumps({"seconds": t1 - t0, "done": done}))


def child_ours_server(a: argparse.Namespace) -> None:
    """A worker process that runs until ``a.go`` (the stop file) appears (for latency)."""
    from host_app.extensions import jobs

    app = make_app(a.url, JOBS_ADMIN_CONCURRENCY=a.threads)
    with app.app_context():
        jobs.start_worker(a.threads)
        time.sleep(0.5)  # listener connected
        Path(a.ready).touch()
        _wait_file(a.go, timeout=a.timeout)
        jobs.stop_worker(wait=True)


def child_procrastinate(a: argparse.Namespace) -> None:
    import logging

    import _peers

    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = _peers.procrastinate_app(a.url)
    Path(a.ready).touch()
    _wait_file(a.go, timeout=a.timeout)
    t0 = time.perf_counter()
    if a.expect:
        app.run_worker(
            queues=["bench"], concurrency=a.threads, wait=False, install_signal_handlers=False
        )
    else:  # a long-running worker for latency, stopped by SIGTERM
        app.run_worker(queues=["bench"], concurrency=a.threads, wait=True)
    t1 = time.perf_counter()
    if a.result:
        Path(a.result).write_text(json.dumps({"seconds": t1 - t0, "done": a.expect}))


def child_rq(a: argparse.Namespace) -> None:
    import _peers  # noqa: F401  (the job functions live there)
    from redis import Redis
    from rq import Queue, SimpleWorker

    r = Redis.from_url(a.url)
    q = Queue("bench", connection=r)
    w = SimpleWorker([q], connection=r)
    Path(a.ready).touch()
    _wait_file(a.go, timeout=a.timeout)
    t0 = time.perf_counter()
    w.work(burst=bool(a.expect), logging_level="WARNING")
    t1 = time.perf_counter()
    if a.result:
        Path(a.result).write_text(
            json.dumps({"seconds": t1 - t0, "done": q.finished_job_registry.count})
        )


def spawn(
    kind: str, tmp: Path, tag: str, **opts: Any
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    files = {k: str(tmp / f"{tag}.{k}") for k in ("ready", "go", "result")}
    args = [sys.executable, str(HERE), "--child", kind]
    for k, v in {**files, **opts}.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.Popen(args)
    return proc, files


def run_children(kind: str, n_procs: int, tmp: Path, tag: str, **opts: Any) -> dict[str, Any]:
    """Start processes, wait until all are ready, say go, wait for them; return the result."""
    procs = [spawn(kind, tmp, f"{tag}-{i}", **opts) for i in range(n_procs)]
    for proc, files in procs:
        deadline = time.monotonic() + 120
        while not os.path.exists(files["ready"]):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} child failed to start")
            time.sleep(0.005)
    t0 = time.perf_counter()
    for _proc, files in procs:
        Path(files["go"]).touch()
    for proc, _files in procs:
        proc.wait(timeout=opts.get("timeout", 600) + 60)
    wall = time.perf_counter() - t0
    results = [json.loads(Path(f["result"]).read_text()) for _p, f in procs]
    seconds = max(r["seconds"] for r in results)
    return {"seconds": seconds, "wall": wall, "done": max(r["done"] for r in results)}


# -- setups ----------------------------------------------------------------------------------


def ours_schema(url: str) -> None:
    from host_app.extensions import db

    app = make_app(url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def ours_reset(url: str) -> None:
    import sqlalchemy as sa

    from host_app.extensions import db

    app = make_app(url)
    with app.app_context():
        with db.engine.begin() as conn:
            names = [t.name for t in db.metadata.sorted_tables if t.name.startswith("jobs_admin_")]
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("TRUNCATE " + ", ".join(names) + " RESTART IDENTITY"))
            else:
                for name in reversed(names):
                    conn.execute(sa.text(f"DELETE FROM {name}"))
        db.engine.dispose()


def ours_enqueue(url: str, n: int) -> float:
    """Enqueue ``n`` no-op jobs with the real ``jobs.enqueue``; return enqueues per second."""
    from host_app.extensions import db, jobs

    app = make_app(url)
    with app.test_request_context():
        t0 = time.perf_counter()
        for i in range(n):
            jobs.enqueue("bench.noop", name=f"noop {i}")
            if i % 500 == 499:
                db.session.commit()
        db.session.commit()
        rate = n / (time.perf_counter() - t0)
        db.session.remove()
        db.engine.dispose()
    return rate


def ours_throughput(
    url: str, n: int, threads: int, procs: int, tmp: Path, tag: str
) -> dict[str, Any]:
    ours_reset(url)
    enq = ours_enqueue(url, n)
    r = run_children("ours", procs, tmp, tag, url=url, threads=threads, expect=n, timeout=300)
    if r["done"] < n:
        raise RuntimeError(f"only {r['done']} of {n} jobs ended")
    return {"rate": n / r["seconds"], "enqueue_rate": enq, **r}


def procrastinate_throughput(
    conninfo: str, n: int, threads: int, tmp: Path, tag: str
) -> dict[str, Any]:
    import _peers

    app = _peers.procrastinate_app(conninfo, sync=True)
    with app.open():
        app.connector.execute_query(
            "TRUNCATE procrastinate_jobs, procrastinate_events RESTART IDENTITY CASCADE"
        )
        noop = app.tasks["noop"]
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            noop.batch_defer(*[{} for _ in range(min(1000, n - start))])
        enq = n / (time.perf_counter() - t0)
    r = run_children(
        "procrastinate", 1, tmp, tag, url=conninfo, threads=threads, expect=n, timeout=300
    )
    with app.open():
        done = app.connector.execute_query_one(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'succeeded'"
        )["n"]
    if done < n:
        raise RuntimeError(f"procrastinate ran {done} of {n}")
    return {"rate": n / r["seconds"], "enqueue_rate": enq, **r}


def rq_throughput(n: int, tmp: Path, tag: str) -> dict[str, Any]:
    import _peers
    from redis import Redis
    from rq import Queue

    r = Redis.from_url(REDIS_URL)
    r.flushdb()
    q = Queue("bench", connection=r)
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        q.enqueue_many([Queue.prepare_data(_peers.rq_noop) for _ in range(min(1000, n - start))])
    enq = n / (time.perf_counter() - t0)
    res = run_children("rq", 1, tmp, tag, url=REDIS_URL, threads=1, expect=n, timeout=300)
    if res["done"] < n:
        raise RuntimeError(f"rq ran {res['done']} of {n}")
    r.flushdb()
    return {"rate": n / res["seconds"], "enqueue_rate": enq, **res}


def pgbench(seconds: int = 10, clients: int = 4) -> float:
    name = f"jobs_admin_bench_pgbench_{os.getpid()}"
    pg_create(name)
    try:
        base = ["-h", "127.0.0.1", "-p", "5432", "-U", "root"]
        subprocess.run(
            ["pgbench", *base, "-i", "-q", "-s", "10", name], check=True, capture_output=True
        )
        out = subprocess.run(
            ["pgbench", *base, "-N", "-T", str(seconds), "-c", str(clients), "-j", "2", name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(
            r"tps = ([\d.]+)", out
        )
        return float(m.group(1)) if m else float("nan")
    finally:
        pg_drop(name)


# -- latency ---------------------------------------------------------------------------------


def _collect(out: Path, expected: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= expected:
            return
        time.sleep(0.0005)
    raise TimeoutError(f"job {expected} did not start within {timeout} s")


def _latencies(out: Path) -> list[float]:
    return [float(x) for x in out.read_text().split()]


def ours_latency(url: str, mode: str, m: int, tmp: Path, tag: str) -> list[float]:
    from host_app.extensions import db, jobs

    ours_reset(url)
    out = tmp / f"{tag}.lat"
    out.unlink(missing_ok=True)
    app = make_app(url)
    proc = None
    files: dict[str, str] = {}
    ctx = app.test_request_context()
    ctx.push()
    try:
        if mode == "same":
            jobs.start_worker(4)
            time.sleep(0.5)
        else:
            proc, files = spawn("ours-server", tmp, tag, url=url, threads=4, timeout=600)
            _wait_file(files["ready"], timeout=60)
        for i in range(m):
            t0 = time.time()
            jobs.enqueue("bench.stamp", params={"t0": t0, "out": str(out)}, commit=True)
            _collect(out, i + 1, timeout=10)
            time.sleep(random.uniform(0.005, 0.02))
    finally:
        if mode == "same":
            jobs.stop_worker(wait=True)
        if proc is not None:
            Path(files["go"]).touch()
            proc.wait(timeout=60)
        db.session.remove()
        db.engine.dispose()
        ctx.pop()
    return _latencies(out)


def procrastinate_latency(conninfo: str, m: int, tmp: Path, tag: str) -> list[float]:
    import _peers

    out = tmp / f"{tag}.lat"
    out.unlink(missing_ok=True)
    proc, files = spawn("procrastinate", tmp, tag, url=conninfo, threads=4, expect=0, timeout=600)
    _wait_file(files["ready"], timeout=60)
    Path(files["go"]).touch()
    time.sleep(1.0)  # the worker connects and LISTENs
    app = _peers.procrastinate_app(conninfo, sync=True)
    try:
        with app.open():
            stamp = app.tasks["stamp"]
            for i in range(m):
                t0 = time.time()
                stamp.defer(t0=t0, out=str(out))
                _collect(out, i + 1, timeout=10)
                time.sleep(random.uniform(0.005, 0.02))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return _latencies(out)


def rq_latency(m: int, tmp: Path, tag: str) -> list[float]:
    import _peers
    from redis import Redis
    from rq import Queue

    out = tmp / f"{tag}.lat"
    out.unlink(missing_ok=True)
    r = Redis.from_url(REDIS_URL)
    r.flushdb()
    proc, files = spawn("rq", tmp, tag, url=REDIS_URL, threads=1, expect=0, timeout=600)
    _wait_file(files["ready"], timeout=60)
    Path(files["go"]).touch()
    time.sleep(0.5)
    q = Queue("bench", connection=r)
    try:
        for i in range(m):
            t0 = time.time()
            q.enqueue(_peers.rq_stamp, t0, str(out))
            _collect(out, i + 1, timeout=10)
            time.sleep(random.uniform(0.005, 0.02))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        r.flushdb()
    return _latencies(out)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--jobs", type=int, default=4000, help="no-op jobs per throughput run (default 4000)"
    )
    p.add_argument(
        "--latency-jobs", type=int, default=100, help="jobs per latency run (default 100)"
    )
    p.add_argument(
        "--sqlite-poll-jobs",
        type=int,
        default=20,
        help="jobs for the SQLite latency across processes",
    )
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--no-write", action="store_true")
    # children
    p.add_argument("--child", help=argparse.SUPPRESS)
    for opt in ("ready", "go", "result", "url"):
        p.add_argument(f"--{opt}", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=300, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        {
            "ours": child_ours,
            "ours-server": child_ours_server,
            "procrastinate": child_procrastinate,
            "rq": child_rq,
        }[a.child](a)
        return

    if not a.skip_peers:
        try:
            import procrastinate  # noqa: F401
            import redis  # noqa: F401
            import rq  # noqa: F401
        except ImportError as exc:
            sys.exit(f"{exc}: install the peers with pip install -e '.[bench]' (or --skip-peers)")
    m = print_machine()
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="jobs_admin_bench_"))
    pg_name = f"jobs_admin_bench_tp_{os.getpid()}"
    pc_name = f"jobs_admin_bench_procrastinate_{os.getpid()}"
    sqlite_url = f"sqlite:///{tmp / 'throughput.sqlite'}"
    rows: list[dict[str, Any]] = []
    lat: list[dict[str, Any]] = []
    floor = float("nan")
    try:
        pg_create(pg_name)
        pg = pg_url(pg_name)
        ours_schema(pg)
        ours_schema(sqlite_url)

        def add(
            system: str, backend: str, config: str, r: dict[str, Any], per_proc: int = 1
        ) -> None:
            row = {
                "system": system,
                "backend": backend,
                "config": config,
                "per_process": r["rate"] / per_proc,
                **r,
            }
            rows.append(row)
            print(
                f"{system:14} {backend:11} {config:22} {r['rate']:8.0f} jobs/s  (enqueue {r['enqueue_rate']:.0f}/s)",  # noqa: E501
                flush=True,
            )

        for threads in (1, 4, 8):
            add(
                "jobs_admin",
                "SQLite",
                f"1 process x {threads} threads",
                ours_throughput(sqlite_url, a.jobs, threads, 1, tmp, f"s{threads}"),
            )
        for threads in (1, 4, 8):
            add(
                "jobs_admin",
                "PostgreSQL",
                f"1 process x {threads} threads",
                ours_throughput(pg, a.jobs, threads, 1, tmp, f"p{threads}"),
            )
        add(
            "jobs_admin",
            "PostgreSQL",
            "4 processes x 4 threads",
            ours_throughput(pg, a.jobs * 2, 4, 4, tmp, "p4x4"),
            per_proc=4,
        )
        if not a.skip_peers:
            pg_create(pc_name)
            conninfo = pg_conninfo(pc_name)
            import _peers

            app = _peers.procrastinate_app(conninfo, sync=True)
            with app.open():
                app.schema_manager.apply_schema()
            for threads in (1, 4, 8):
                add(
                    "Procrastinate",
                    "PostgreSQL",
                    f"1 process x concurrency {threads}",
                    procrastinate_throughput(conninfo, a.jobs, threads, tmp, f"pc{threads}"),
                )
            add(
                "RQ SimpleWorker",
                "Redis",
                "1 process (1 job at a time)",
                rq_throughput(a.jobs, tmp, "rq"),
            )
        floor = pgbench()
        print(f"pgbench -N -c 4 -T 10: {floor:.0f} tps", flush=True)

        def add_lat(system: str, backend: str, where: str, values: list[float]) -> None:
            lat.append(
                {
                    "system": system,
                    "backend": backend,
                    "where": where,
                    "p50": median(values),
                    "p95": pct(values, 0.95),
                    "n": len(values),
                }
            )
            print(
                f"latency {system:14} {backend:11} {where:15} p50 {ms(median(values))} ms  p95 {ms(pct(values, 0.95))} ms",  # noqa: E501
                flush=True,
            )

        add_lat(
            "jobs_admin",
            "PostgreSQL",
            "same process",
            ours_latency(pg, "same", a.latency_jobs, tmp, "lps"),
        )
        add_lat(
            "jobs_admin",
            "PostgreSQL",
            "other process",
            ours_latency(pg, "other", a.latency_jobs, tmp, "lpo"),
        )
        add_lat(
            "jobs_admin",
            "SQLite",
            "same process",
            ours_latency(sqlite_url, "same", a.latency_jobs, tmp, "lss"),
        )
        add_lat(
            "jobs_admin",
            "SQLite",
            "other process",
            ours_latency(sqlite_url, "other", a.sqlite_poll_jobs, tmp, "lso"),
        )
        if not a.skip_peers:
            add_lat(
                "Procrastinate",
                "PostgreSQL",
                "other process",
                procrastinate_latency(conninfo, a.latency_jobs, tmp, "lpc"),
            )
            add_lat(
                "RQ SimpleWorker", "Redis", "other process", rq_latency(a.latency_jobs, tmp, "lrq")
            )
    finally:
        pg_drop(pg_name)
        pg_drop(pc_name)
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t_start
    body = report(rows, lat, floor, a, machine_line(m), seconds)
    print(body)
    if not a.no_write:
        write_section(
            "throughput",
            "2. Worker throughput and latency: jobs_admin vs Procrastinate, RQ and pgbench",
            body,
        )


def report(
    rows: list[dict[str, Any]],
    lat: list[dict[str, Any]],
    floor: float,
    a: Any,
    machine: str,
    seconds: float,
) -> str:
    def find(system: str, config_part: str, backend: str = "PostgreSQL") -> dict[str, Any] | None:
        for r in rows:
            if r["system"] == system and r["backend"] == backend and config_part in r["config"]:
                return r
        return None

    out = [machine, ""]
    out.append(
        f"No-op jobs: {a.jobs:,} per run ({a.jobs * 2:,} for 4 processes), enqueued before the "
        "workers start; jobs/s = jobs / seconds from the go signal until all ended. *vs "
        "Procrastinate* compares the same concurrency; *share of pgbench* divides jobs/s by "
        f"`pgbench -N -c 4 -T 10` transactions/s on the same server ({floor:.0f} tps). A "
        "jobs_admin worker claims short jobs in batches (one statement per claim) and writes "
        "their ends in batches (one transaction for all the ends that queued up meanwhile), "
        "and runs the demo host's `job_finished` receiver for every job. The machine has "
        f"{os.cpu_count()} cores: with 4 worker processes, they and the database server share "
        "them, so the per-process figure there is bounded by the CPU, not by jobs_admin."
    )
    out.append("")
    trs = []
    for r in rows:
        peer = None
        if (
            r["system"] == "jobs_admin"
            and r["backend"] == "PostgreSQL"
            and "1 process" in r["config"]
        ):
            threads = r["config"].split("x")[1].split()[0]
            peer = find("Procrastinate", f"concurrency {threads}")
        trs.append([
            r["system"], r["backend"], r["config"], f"{r['rate']:.0f}",
            f"{r['per_process']:.0f}", f"{r['enqueue_rate']:.0f}",
            f"{r['rate'] / peer['rate']:.1f}x" if peer else "",
            f"{r['rate'] / floor:.2f}" if r["backend"] == "PostgreSQL" and floor == floor else "",
        ])  # fmt: skip
    out.append(
        table(
            [
                "system",
                "backend",
                "workers",
                "jobs/s",
                "per process",
                "enqueue/s",
                "vs Procrastinate",
                "share of pgbench tps",
            ],
            trs,
        )
    )
    out.append("")
    out.append("Enqueue-to-start latency (ms), one job at a time, 5-20 ms apart:")
    out.append("")
    out.append(
        table(
            ["system", "backend", "worker in", "p50", "p95", "n"],
            [
                [x["system"], x["backend"], x["where"], ms(x["p50"]), ms(x["p95"]), x["n"]]
                for x in lat
            ],
        )
    )
    out.append("")
    tg = []
    for threads in (1, 4, 8):
        r = find("jobs_admin", f"1 process x {threads} threads")
        if r:
            tg.append(
                (
                    f"≥ 1,000 jobs/s per process, PostgreSQL, {threads} thread(s)",
                    f"{r['rate']:.0f}",
                    r["rate"] >= 1000,
                )
            )
            peer = find("Procrastinate", f"concurrency {threads}")
            if peer:
                x = r["rate"] / peer["rate"]
                tg.append((f"≥ 2x Procrastinate at concurrency {threads}", f"{x:.1f}x", x >= 2))
    r = find("jobs_admin", "4 processes")
    if r:
        tg.append(
            (
                "≥ 1,000 jobs/s per process, 4 processes",
                f"{r['per_process']:.0f} ({r['rate']:.0f} in all on {os.cpu_count()} cores, "
                f"{r['rate'] / floor:.2f} of pgbench's tps)",
                r["per_process"] >= 1000,
            )
        )
    for x in lat:
        if x["system"] != "jobs_admin":
            continue
        limit = 0.010 if x["where"] == "same process" else 0.050
        tg.append(
            (
                f"p50 < {limit * 1000:.0f} ms, {x['backend']}, {x['where']}",
                f"{ms(x['p50'])} ms",
                x["p50"] < limit,
            )
        )
    out.append(table(["target", "result", ""], [[t, v, verdict(ok)] for t, v, ok in tg]))
    out.append("")
    out.append(f"This run took {seconds / 60:.1f} min.")
    return "\n".join(out)


if __name__ == "__main__":
    main()
