"""The load test's producer: a steady stream of short demo jobs, as a shop's code enqueues them.

``python bench/load/enqueue.py --rate 500 --duration 60 --reference load-1234-`` enqueues
``rate`` jobs a second for ``duration`` seconds through the real ``jobs.enqueue`` of the demo host
(configured from ``FLASK_*`` variables, as the web and worker processes are), committed ten
times a second, and prints a JSON line: how many it enqueued, its id range and the rate kept.

The mix is short jobs of the demo's types: ``search.reindex`` of 1-5 documents (most), a
``reports.broken`` that fails, and a ``reports.flaky`` that fails once and succeeds when retried
2 s later; every job's reference starts with ``--reference``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Commits per second: each carries rate / TICKS jobs.
TICKS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="jobs per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--reference", default="load-", help="reference prefix of every job")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()

    import host_app
    from host_app.extensions import db, jobs

    rng = random.Random(args.seed)
    app = host_app.create_app()
    n = 0
    ids: list[int] = []
    behind = 0.0
    with app.app_context():
        start = time.monotonic()
        tick = 0
        while True:
            due = start + tick / TICKS
            now = time.monotonic()
            if due >= start + args.duration:
                break
            if due > now:
                time.sleep(due - now)
            else:
                behind = max(behind, now - due)
            # The jobs due by this tick: rate x elapsed, whole jobs.
            want = int(args.rate * (tick + 1) / TICKS) - n
            batch = []
            for _ in range(want):
                n += 1
                ref = f"{args.reference}{n}"
                roll = rng.random()
                if roll < 0.03:
                    batch.append(jobs.enqueue("reports.broken", reference=ref))
                elif roll < 0.05:
                    batch.append(jobs.enqueue("reports.flaky", month="2026-11", reference=ref))
                else:
                    items = rng.randint(1, 5)
                    batch.append(jobs.enqueue("search.reindex", items=items, reference=ref))
            # The ids now: after the commit each would be a SELECT (expired attributes).
            ids.extend(job.id for job in batch)
            db.session.commit()
            tick += 1
        took = time.monotonic() - start
    print(
        json.dumps(
            {
                "enqueued": n,
                "first_id": min(ids) if ids else None,
                "last_id": max(ids) if ids else None,
                "seconds": round(took, 3),
                "rate": round(n / took, 1) if took else 0.0,
                "most_behind": round(behind, 3),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
