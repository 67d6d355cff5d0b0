"""CSV export of 1,000,000 jobs: rows per second and memory, against the database's own floor.

In a fresh process per backend, a logged-in test client requests ``/admin/jobs/export.csv`` (no
filter: every job) and reads the streamed body chunk by chunk; the process's resident memory is
sampled as it goes (at 10 %, 50 % and 100 % of the rows) and its peak (VmHWM) is read at the end.

The floor, in the same run: the same columns read straight from the database into CSV with no
application in between (PostgreSQL: ``COPY (SELECT ...) TO STDOUT WITH CSV`` read by psycopg;
SQLite: the ``sqlite3`` cursor into ``csv.writer``), so the ratio says what the export's Python
costs on top of the raw read.

Targets (issue 6): memory constant and under 150 MB.

Usage: ``python bench/export_csv.py [--size 1000000] [--backends postgresql,sqlite]``
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    human,
    login,
    machine_line,
    make_app,
    parse_backends,
    peak_rss_mb,
    print_machine,
    reset_peak_rss,
    rss_mb,
    table,
    verdict,
    write_section,
)
from _dataset import dataset

HERE = Path(__file__).resolve()
MB_TARGET = 150.0
COLUMNS = (
    "id, name, type, status, created_at, started_at, finished_at, created_by, reference, error"
)


def child_export(url: str, size: int) -> dict[str, Any]:
    from host_app.extensions import db

    app = make_app(url)
    client = app.test_client()
    r = login(client, "admin")
    assert r.status_code in (302, 303)
    idle = rss_mb()
    reset_peak_rss()
    t0 = time.perf_counter()
    resp = client.get("/admin/jobs/export.csv", buffered=False)
    assert resp.status_code == 200, resp.status_code
    lines = 0
    nbytes = 0
    marks = {int(size * 0.1): "rss_10", int(size * 0.5): "rss_50"}
    samples: dict[str, float] = {}
    next_mark = sorted(marks)
    for chunk in resp.response:
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        nbytes += len(data)
        lines += data.count(b"\n")
        while next_mark and lines >= next_mark[0]:
            samples[marks[next_mark.pop(0)]] = rss_mb()
    resp.close()
    seconds = time.perf_counter() - t0
    samples["rss_100"] = rss_mb()
    with app.app_context():
        db.engine.dispose()
    return {
        "seconds": seconds,
        "rows": lines - 1,
        "bytes": nbytes,
        "peak_mb": peak_rss_mb(),
        "idle_mb": idle,
        **samples,
    }


def child_floor(url: str) -> dict[str, Any]:
    reset_peak_rss()
    t0 = time.perf_counter()
    rows = 0
    nbytes = 0
    if url.startswith("postgresql"):
        import psycopg
        from _common import pg_conninfo

        dbname = url.rsplit("/", 1)[1]
        query = (
            f"COPY (SELECT {COLUMNS} FROM jobs_admin_job ORDER BY created_at DESC, id DESC)"
            " TO STDOUT WITH CSV HEADER"
        )
        with (
            psycopg.connect(pg_conninfo(dbname)) as conn,
            conn.cursor() as cur,
            cur.copy(query) as copy,
        ):
            for data in copy:
                nbytes += len(data)
                rows += bytes(data).count(b"\n")
        rows -= 1
    else:
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        buf = io.StringIO()
        writer = csv.writer(buf)
        cur = conn.execute(
            f"SELECT {COLUMNS} FROM jobs_admin_job ORDER BY created_at DESC, id DESC"
        )
        while True:
            batch = cur.fetchmany(1000)
            if not batch:
                break
            writer.writerows(batch)
            rows += len(batch)
            nbytes += len(buf.getvalue())
            buf.seek(0)
            buf.truncate()
        conn.close()
    return {
        "seconds": time.perf_counter() - t0,
        "rows": rows,
        "bytes": nbytes,
        "peak_mb": peak_rss_mb(),
    }


def in_child(mode: str, url: str, size: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(HERE), "--child", mode, "--url", url, "--size", str(size)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--backends", type=parse_backends, default="postgresql,sqlite")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        res = child_export(a.url, a.size) if a.child == "export" else child_floor(a.url)
        print(json.dumps(res))
        return
    m = print_machine()
    t0 = time.perf_counter()
    rows = []
    for backend in a.backends:
        url = dataset(backend, a.size)
        ours = in_child("export", url, a.size)
        floor = in_child("floor", url, a.size)
        if ours["rows"] != a.size:
            raise RuntimeError(f"export wrote {ours['rows']} rows, expected {a.size}")
        rows.append((backend, ours, floor))
        print(
            f"{backend:10} export {ours['rows']:,} rows in {ours['seconds']:.1f} s = "
            f"{ours['rows'] / ours['seconds']:,.0f} rows/s, peak {ours['peak_mb']:.0f} MB "
            f"(idle {ours['idle_mb']:.0f}; RSS at 10/50/100 %: {ours.get('rss_10', 0):.0f}/"
            f"{ours.get('rss_50', 0):.0f}/{ours['rss_100']:.0f} MB); floor "
            f"{floor['rows'] / floor['seconds']:,.0f} rows/s",
            flush=True,
        )
    body = [machine_line(m), ""]
    body.append(
        f"`GET /admin/jobs/export.csv` of all {human(a.size)} jobs through a logged-in test client, "  # noqa: E501
        "the streamed body read chunk by chunk in a fresh process. *RSS at 10/50/100 %* shows "
        "memory stays flat while rows stream; *peak* is the process's VmHWM (idle app in "
        "brackets). The floor reads the same columns in the same order straight into CSV "
        "(PostgreSQL `COPY ... TO STDOUT WITH CSV`; SQLite: `sqlite3` + `csv.writer`)."
    )
    body.append("")
    body.append(
        table(
            [
                "backend",
                "rows",
                "MB written",
                "seconds",
                "rows/s",
                "floor rows/s",
                "floor / export",
                "RSS at 10/50/100 % (MB)",
                "peak MB",
            ],
            [
                [
                    b,
                    f"{o['rows']:,}",
                    f"{o['bytes'] / 1e6:.0f}",
                    f"{o['seconds']:.1f}",
                    f"{o['rows'] / o['seconds']:,.0f}",
                    f"{f['rows'] / f['seconds']:,.0f}",
                    f"{(f['rows'] / f['seconds']) / (o['rows'] / o['seconds']):.1f}x",
                    f"{o.get('rss_10', 0):.0f} / {o.get('rss_50', 0):.0f} / {o['rss_100']:.0f}",
                    f"{o['peak_mb']:.0f} ({o['idle_mb']:.0f})",
                ]
                for b, o, f in rows
            ],
        )
    )
    body.append("")
    tg = []
    for b, o, _f in rows:
        flat = o["rss_100"] - o.get("rss_10", o["rss_100"]) < 20
        tg.append((b, f"peak < 150 MB: {o['peak_mb']:.0f} MB", o["peak_mb"] < MB_TARGET))
        tg.append(
            (
                b,
                f"constant memory (RSS grows < 20 MB from 10 % to 100 %): +{o['rss_100'] - o.get('rss_10', 0):.0f} MB",  # noqa: E501
                flat,
            )
        )
    body.append(table(["backend", "target", "result"], [[b, t, verdict(ok)] for b, t, ok in tg]))
    body.append("")
    body.append(f"This run took {(time.perf_counter() - t0) / 60:.1f} min.")
    text = "\n".join(body)
    print(text)
    if not a.no_write:
        write_section("export", "4. CSV export of a million jobs", text)


if __name__ == "__main__":
    main()
