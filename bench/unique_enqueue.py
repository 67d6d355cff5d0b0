"""The cost of a unique job type's enqueue, against a plain one, on both databases.

On a fresh database with the demo schema: ``--n`` enqueues (each committed) of a plain type,
of a unique type with a new key each time (the ``INSERT ... ON CONFLICT DO NOTHING`` inserts),
and of the same key again (the conflict: nothing inserted, the holder read back). Median and
p95 per enqueue, in ms.

Usage: ``python bench/unique_enqueue.py [--backends sqlite,postgresql] [--n 2000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
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
    write_section,
)


def register() -> None:
    from host_app.extensions import jobs

    if "bench.unique" not in jobs.registry:

        def unique(ctx: Any, **params: Any) -> None:
            return None

        jobs.job_type("bench.unique", title="Unique", unique=True)(unique)


def run(backend: str, url: str, n: int) -> list[dict[str, Any]]:
    from host_app.extensions import db, jobs

    register()
    app = make_app(url)
    rows = []
    with app.app_context():
        db.create_all()
        cases = [
            ("plain type", lambda i: jobs.enqueue("bench.noop", params={"i": i}, commit=True)),
            ("unique type, new key", lambda i: jobs.enqueue("bench.unique", i=i, commit=True)),
            ("unique type, duplicate", lambda i: jobs.enqueue("bench.unique", i=0, commit=True)),
        ]
        for label, enqueue in cases:
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                job = enqueue(i)
                times.append(time.perf_counter() - t0)
                assert job.duplicate is (label.endswith("duplicate"))
                db.session.expunge_all()
            rows.append(
                {
                    "backend": backend,
                    "case": label,
                    "median": median(times),
                    "p95": pct(times, 0.95),
                }
            )
            print(
                f"{backend:10} {label:24} {ms(rows[-1]['median'])} ms (p95 {ms(rows[-1]['p95'])})"
            )
        db.session.remove()
        db.engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    machine = print_machine()
    rows: list[dict[str, Any]] = []
    for backend in parse_backends(args.backends):
        with ExitStack() as stack:
            if backend == "postgresql":
                url = pg_url(stack.enter_context(pg_throwaway("jobs_admin_bench_unique")))
            else:
                folder = stack.enter_context(tempfile.TemporaryDirectory())
                url = f"sqlite:///{folder}/unique.sqlite"
            rows += run(backend, url, args.n)
    body = [
        machine_line(machine),
        "",
        f"{args.n} enqueues per case, each committed at once, one process, on an empty jobs "
        "table; the duplicate case enqueues the key the first unique job holds (nothing is "
        "inserted, the holder is read back and returned with `duplicate` true).",
        "",
        table(
            ["database", "enqueue", "median (ms)", "p95 (ms)"],
            [[r["backend"], r["case"], ms(r["median"]), ms(r["p95"])] for r in rows],
        ),
    ]
    if not args.no_write:
        write_section("unique-enqueue", "Unique jobs: the cost of an enqueue", "\n".join(body))


if __name__ == "__main__":
    main()
