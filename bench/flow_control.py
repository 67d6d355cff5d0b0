"""Flow control's cost on the unlimited path: A/B/C in one run, PostgreSQL, 4 worker processes.

``--jobs`` no-op jobs (``bench.noop``) are run by 4 ``jobs_admin`` worker processes x 4 threads,
three ways, alternated ``--rounds`` times in the same run:

* A, nothing paused or limited: the plain claim, the statement of before this issue;
* B, the same no-op jobs interleaved with as many jobs of a **paused** type (they stay pending,
  so every claim skips them);
* C, interleaved with as many jobs of a type **limited** to ``max_concurrency=2`` (claimed
  under its row lock, two at a time, while the no-op jobs go through the plain claim).

The figure is no-op jobs per second from the go signal until all of them completed (each
process polls their count). Target (issue 19): B and C within 10 % of A.

Usage: ``JOBS_ADMIN_BENCH_TAG=wt-flow python bench/flow_control.py [--jobs 3000] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    machine_line,
    make_app,
    median,
    pg_create,
    pg_drop,
    pg_url,
    print_machine,
    table,
    verdict,
    write_section,
)

HERE = Path(__file__).resolve()
PAUSED, LIMITED = "bench.flow_paused", "bench.flow_limited"


def register() -> None:
    from host_app.extensions import jobs

    if PAUSED not in jobs.registry:
        jobs.job_type(PAUSED, title="Flow: paused")(lambda ctx: None)
        jobs.job_type(LIMITED, title="Flow: limited", max_concurrency=2)(lambda ctx: None)


def _noop_done(conn: Any) -> int:
    import sqlalchemy as sa

    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM jobs_admin_job"
                " WHERE type = 'bench.noop' AND status = 'completed'"
            )
        ).scalar()
    )


def child(a: argparse.Namespace) -> None:
    from host_app.extensions import db, jobs

    register()
    app = make_app(a.url, JOBS_ADMIN_CONCURRENCY=4)
    with app.app_context():
        with db.engine.connect() as conn:
            _noop_done(conn)
        Path(a.ready).touch()
        while not os.path.exists(a.go):
            time.sleep(0.001)
        t0 = time.perf_counter()
        jobs.start_worker(4)
        deadline = time.monotonic() + 600
        done = 0
        while time.monotonic() < deadline:
            with db.engine.connect() as conn:
                done = _noop_done(conn)
            if done >= a.expect:
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        jobs.stop_worker(wait=True)
    Path(a.result).write_text(json.dumps({"seconds": seconds, "done": done}))


def setup(url: str, n: int, mode: str) -> None:
    import sqlalchemy as sa

    from host_app.extensions import db, jobs

    register()
    app = make_app(url)
    with app.test_request_context():
        db.create_all()
        with db.engine.begin() as conn:
            names = [t.name for t in db.metadata.sorted_tables if t.name.startswith("jobs_admin_")]
            conn.execute(sa.text("TRUNCATE " + ", ".join(names) + " RESTART IDENTITY"))
        other = {"A": None, "B": PAUSED, "C": LIMITED}[mode]
        if mode == "B":
            jobs.pause(PAUSED)
        if mode == "C":
            jobs.set_limits(LIMITED, max_concurrency=2)
        for i in range(n):
            jobs.enqueue("bench.noop")
            if other:
                jobs.enqueue(other)
            if i % 500 == 499:
                db.session.commit()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def run(url: str, n: int, mode: str, tmp: Path) -> float:
    setup(url, n, mode)
    procs = []
    for i in range(4):
        files = {k: str(tmp / f"{mode}{i}.{k}") for k in ("ready", "go", "result")}
        for f in files.values():
            Path(f).unlink(missing_ok=True)
        args = [sys.executable, str(HERE), "--child", "--url", url, "--expect", str(n)]
        for k, v in files.items():
            args += [f"--{k}", v]
        procs.append((subprocess.Popen(args), files))
    for proc, files in procs:
        while not os.path.exists(files["ready"]):
            if proc.poll() is not None:
                raise RuntimeError("a worker failed to start")
            time.sleep(0.005)
    for _proc, files in procs:
        Path(files["go"]).touch()
    for proc, _files in procs:
        proc.wait(700)
    results = [json.loads(Path(f["result"]).read_text()) for _p, f in procs]
    if max(r["done"] for r in results) < n:
        raise RuntimeError(f"only {max(r['done'] for r in results)} of {n} no-op jobs completed")
    return n / max(r["seconds"] for r in results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", action="store_true")
    for name in ("url", "ready", "go", "result"):
        p.add_argument(f"--{name}")
    p.add_argument("--expect", type=int, default=0)
    a = p.parse_args()
    if a.child:
        child(a)
        return
    m = print_machine()
    tag = os.environ.get("JOBS_ADMIN_BENCH_TAG", "main").replace("-", "_")
    name = f"jobs_admin_bench_{tag}_flow"
    pg_create(name)
    url = pg_url(name)
    rates: dict[str, list[float]] = {"A": [], "B": [], "C": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(a.rounds):
                for mode in ("A", "B", "C") if r % 2 == 0 else ("C", "B", "A"):
                    rate = run(url, a.jobs, mode, Path(tmp))
                    rates[mode].append(rate)
                    print(f"round {r + 1} {mode}: {rate:,.0f} no-op jobs/s", flush=True)
    finally:
        pg_drop(name)
    a_rate = median(rates["A"])
    rows = []
    labels = {
        "A": "nothing paused or limited (the plain claim, as before)",
        "B": f"+ {a.jobs:,} pending jobs of a paused type, interleaved",
        "C": f"+ {a.jobs:,} jobs of a type with max_concurrency=2, interleaved",
    }
    for mode in ("A", "B", "C"):
        rate = median(rates[mode])
        ratio = rate / a_rate
        ok = mode == "A" or ratio >= 0.9
        rows.append(
            [
                mode,
                labels[mode],
                f"{rate:,.0f}",
                ", ".join(f"{x:,.0f}" for x in rates[mode]),
                f"{ratio:.0%}",
                "" if mode == "A" else verdict(ok),
            ]
        )
    body = "\n\n".join(
        [
            machine_line(m),
            f"{a.jobs:,} no-op jobs, 4 `jobs_admin` worker processes x 4 threads on PostgreSQL,"
            f" the three setups alternated over {a.rounds} rounds in one run (median shown)."
            " Target: B and C within 10 % of A.",
            table(
                ["", "setup", "no-op jobs/s", "each round", "vs A", "target"],
                rows,
            ),
        ]
    )
    print(body)
    write_section(
        "flow_control", "Flow control: the unlimited path with a paused or limited type", body
    )


if __name__ == "__main__":
    main()
