"""Params search (``params.KEY:VALUE``) on the admin list at 1,000,000 jobs, both databases.

The demo host runs on the cached dataset (``_dataset.py``: every job's params hold
``customer.id`` = id mod 40,000 and ``feed`` = ``F<id mod 30,011>``, so one value matches
about 25 and 33 jobs of a million). Server time of one list request through a logged-in Flask
test client (body read), median and p95 after two warm-ups, and the SQL alone (the ids of the
first page, as the list orders them) for comparison.

Target (issue 17): PostgreSQL under 50 ms at 1M for a value that matches a few dozen jobs.
SQLite has no index over params: its cost is measured, alone and with a selective filter.

Usage: ``JOBS_ADMIN_BENCH_TAG=scale python bench/params_search.py [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    print_machine,
    table,
    verdict,
    write_section,
)
from _dataset import dataset

N = 1_000_000
TARGET = 0.050

CASES = [
    ("params.customer.id:4711 (number), default 7 days", "search=params.customer.id:4711"),
    (
        "params.customer.id:4711, all time",
        "search=params.customer.id:4711&flt0_created_within=all",
    ),
    ("params.feed:F123 (string), all time", "search=params.feed:F123&flt0_created_within=all"),
    (
        "params filter + type filter, all time",
        "flt0_params_equals=customer.id:4711&flt1_type_equals=bench.type07"
        "&flt2_created_within=all",
    ),
    (
        "params + free text, all time",
        "search=" + quote("params.customer.id:4711 export") + "&flt0_created_within=all",
    ),
    ("params.feed:F123 + status failed, today", "search=params.feed:F123"
     "&flt0_status_equals=failed&flt1_created_within=today"),
    ("no match, all time", "search=params.customer.id:99999999&flt0_created_within=all"),
]  # fmt: skip


def measure(func: Any, repeat: int, budget: float) -> list[float]:
    for _ in range(2):
        func()
    times: list[float] = []
    t_end = time.perf_counter() + budget
    while len(times) < repeat and (len(times) < 3 or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return times


def run(backend: str, repeat: int, budget: float) -> list[dict[str, Any]]:
    url = dataset(backend, N)
    app = make_app(url)
    client = app.test_client()
    assert login(client, "admin").status_code in (302, 303)
    rows = []
    for label, query in CASES:
        path = f"/admin/jobs/?{query}"

        def get(path: str = path) -> None:
            resp = client.get(path)
            body = resp.get_data()
            if resp.status_code != 200 or b"alert-danger" in body or b"Invalid value" in body:
                raise RuntimeError(f"{path}: HTTP {resp.status_code} or an error flash")

        times = measure(get, repeat, budget)
        found = client.get(path).get_data(as_text=True).count('class="text-monospace">#')
        row = {
            "backend": backend,
            "case": label,
            "median": median(times),
            "p95": pct(times, 0.95),
            "n": len(times),
            "rows": found,
        }
        rows.append(row)
        print(
            f"{backend:10} {label:50} {ms(row['median']):>8} ms (p95 {ms(row['p95'])}, "
            f"n={row['n']}, {found} rows on the page)",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    machine = print_machine()
    rows: list[dict[str, Any]] = []
    for backend in parse_backends(args.backends):
        rows += run(backend, args.repeat, args.budget)
    pg = [r for r in rows if r["backend"] == "postgresql" and "no match" not in r["case"]]
    body = [
        machine_line(machine),
        "",
        f"Admin list requests at {human(N)} jobs with a params search (server time, Flask test "
        "client, logged in as admin, body read; median and p95 in ms over *n* requests after two "
        "warm-ups). A value matches 25 (`customer.id`) or 33 (`feed`) jobs of the million. "
        "PostgreSQL reads the GIN index `ix_jobs_admin_job_params` (`jsonb_path_ops`, "
        "`params @> ...`, a BitmapOr of the number and the string); SQLite has no index over "
        "params and reads `json_extract` on every row the other conditions leave.",
        "",
        table(
            ["database", "list request", "median", "p95", "rows shown"],
            [
                [
                    r["backend"],
                    r["case"],
                    ms(r["median"]),
                    f"{ms(r['p95'])} (n={r['n']})",
                    r["rows"],
                ]
                for r in rows
            ],
        ),
        "",
    ]
    if pg:
        worst = max(r["median"] for r in pg)
        body.append(
            f"Target: PostgreSQL under 50 ms at 1M for a few dozen matches: worst median "
            f"{ms(worst)} ms, {verdict(worst < TARGET)}."
        )
    if not args.no_write:
        write_section("params-search", "Params search at 1M jobs", "\n".join(body))


if __name__ == "__main__":
    main()
