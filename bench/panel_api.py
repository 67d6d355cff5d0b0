"""Issue 15 at 1,000,000 jobs: what the job panel and "My jobs" add to a host's page, and the JSON
API's answer times, on SQLite and PostgreSQL.

Runs on the cached ``mix`` datasets of ``_dataset.py`` (built by ``admin_pages.py``; this script
only reads them, and refuses to run on one that is missing or stale rather than rebuild a
dataset another benchmark may be using). Server time is the time inside the request (Flask test
client, logged in, body read), median and p95 over ``--repeat`` requests after two warm-ups.

Cases:

* a host page (a plain template) without and with ``{{ jobs_admin_panel(...) }}``, for a
  reference with one job (the dataset's ``PO-*`` references are nearly unique), the dataset's
  most frequent reference, and one with no job: the panel's added time is the difference;
* the admin index with and without "My jobs" in the navbar (``JOBS_ADMIN_MY_JOBS``), and the
  menu's list (``<jobs>/my-jobs``);
* ``api/jobs``: first page, status, type, creator, reference, a date range, search, a cursor in
  the middle of the history, ``limit=200``; ``api/jobs/<id>``; ``api/counts``.

Targets (issue 15): the panel adds under 5 ms to a host page; ``api/jobs`` answers under 30 ms.

Usage: ``python bench/panel_api.py [--size 1000000] [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CACHE,
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
from _dataset import _fresh, _name, pg_exists, sqlite_path, url_of

PANEL_TARGET, API_TARGET = 0.005, 0.030

PAGE = "<!doctype html><html><body><h1>Order {{ ref }}</h1><p>{{ text }}</p>{% block x %}{% endblock %}</body></html>"  # noqa: E501
PANEL = "{{ jobs_admin_panel(reference=ref, limit=5) }}"


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


def cached(backend: str, n: int) -> str:
    """The URL of the cached dataset; exits when it is missing or stale."""
    url = url_of(backend, "mix", n)
    exists = (
        pg_exists(_name("mix", n)) if backend == "postgresql" else sqlite_path("mix", n).exists()
    )
    if not exists or not _fresh(url, backend, "mix", n):
        sys.exit(
            f"no fresh {human(n)} dataset on {backend}: run `python bench/admin_pages.py "
            f"--sizes {n} --backends {backend}` first (it builds and caches it)"
        )
    return url


def facts(app: Any) -> dict[str, Any]:
    """References, a job id, a mid-history cursor and the busiest creator of the dataset."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from jobs_admin.admin._api_args import encode_cursor

    with app.app_context():
        j = jobs.Job.__table__
        s = db.session
        single = s.execute(
            sa.select(j.c.reference)
            .where(j.c.reference.is_not(None))
            .order_by(j.c.id.desc())
            .limit(1)
        ).scalar()
        busiest, many = s.execute(
            sa.select(j.c.reference, sa.func.count())
            .where(j.c.reference.is_not(None))
            .group_by(j.c.reference)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).one()
        total = s.execute(sa.select(sa.func.count()).select_from(j)).scalar() or 0
        mid = s.execute(
            sa.select(j.c.created_at, j.c.id)
            .order_by(j.c.created_at.desc(), j.c.id.desc())
            .offset(total // 2)
            .limit(1)
        ).one()
        job_id = s.execute(
            sa.select(j.c.id).where(j.c.status == "partial").order_by(j.c.id.desc()).limit(1)
        ).scalar()
        a_type = s.execute(sa.select(j.c.type).order_by(j.c.id.desc()).limit(1)).scalar()
        oldest = s.execute(sa.select(sa.func.min(j.c.created_at))).scalar()
        s.remove()
    return {
        "single": single,
        "busiest": busiest,
        "busiest_jobs": int(many),
        "cursor": encode_cursor(mid[0], mid[1]),
        "job_id": job_id,
        "type": a_type,
        "week_start": oldest.isoformat() if oldest else "2020-01-01",
    }


def run_one(backend: str, n: int, repeat: int, budget: float) -> list[dict[str, Any]]:
    from flask import render_template
    from jinja2 import ChoiceLoader, DictLoader

    from host_app.extensions import db

    url = cached(backend, n)
    rows: list[dict[str, Any]] = []
    for my_jobs in (False, True):
        app = make_app(url, JOBS_ADMIN_MY_JOBS=my_jobs)
        # Two host templates, loaded and compiled once like the host's own files.
        app.jinja_env.loader = ChoiceLoader(
            [
                DictLoader(
                    {
                        "bench_page.html": PAGE,
                        "bench_panel.html": PAGE.replace("{% block x %}{% endblock %}", PANEL),
                    }
                ),
                app.jinja_env.loader,
            ]
        )

        @app.route("/bench/page")
        def plain_page() -> str:
            from flask import request

            return render_template("bench_page.html", ref=request.args["ref"], text="x" * 200)

        @app.route("/bench/panel")
        def panel_page() -> str:
            from flask import request

            return render_template("bench_panel.html", ref=request.args["ref"], text="x" * 200)

        client = app.test_client()
        r = login(client, "admin")
        assert r.status_code in (302, 303)
        f = facts(app)

        def getter(path: str, json_body: bool = False, client: Any = client) -> Any:
            def get() -> None:
                resp = client.get(path)
                resp.get_data()
                if resp.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {resp.status_code}: {resp.data[:300]!r}")
                if json_body:
                    resp.get_json()
                resp.close()

            return get

        def api(**args: Any) -> str:
            return "/admin/jobs/api/jobs" + ("?" + urlencode(args) if args else "")

        if my_jobs:
            cases: list[tuple[str, str, str]] = [
                ("admin index with My jobs", "navbar", "/admin/"),
                ("My jobs menu: 10 latest (fragment)", "navbar", "/admin/jobs/my-jobs?limit=10"),
                ("api/jobs: first page (25)", "api", api()),
                ("api/jobs: limit=200", "api", api(limit=200)),
                ("api/jobs: status=failed", "api", api(status="failed")),
                ("api/jobs: type", "api", api(type=f["type"])),
                ("api/jobs: created_by=operator", "api", api(created_by="operator")),
                ("api/jobs: reference (busiest)", "api", api(reference=f["busiest"])),
                (
                    "api/jobs: created_after (oldest) + status",
                    "api",
                    api(created_after=f["week_start"], status="partial"),
                ),
                ("api/jobs: search '12345'", "api", api(search="12345")),
                ("api/jobs: cursor in the middle", "api", api(cursor=f["cursor"])),
                ("api/jobs/<id>", "api-one", f"/admin/jobs/api/jobs/{f['job_id']}"),
                ("api/counts", "api-one", "/admin/jobs/api/counts"),
            ]
            for ref_label, ref in (
                ("1 job", f["single"]),
                (f"{f['busiest_jobs']} jobs", f["busiest"]),
                ("no job", "order:none"),
            ):
                q = urlencode({"ref": ref})
                cases.append((f"host page, reference with {ref_label}", "page", f"/bench/page?{q}"))
                cases.append(
                    (f"host page + panel, reference with {ref_label}", "panel", f"/bench/panel?{q}")
                )
        else:
            cases = [("admin index without My jobs", "navbar-off", "/admin/")]
        for label, kind, path in cases:
            t = measure(getter(path, kind.startswith("api")), repeat, budget)
            row = {
                "backend": backend,
                "size": n,
                "case": label,
                "kind": kind,
                "median": median(t),
                "p95": pct(t, 0.95),
                "n": len(t),
            }
            rows.append(row)
            print(
                f"{backend:10} {human(n):>5} {label:48} {ms(row['median']):>7} ms "
                f"(p95 {ms(row['p95'])}, n={len(t)})",
                flush=True,
            )
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return rows


def added(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panel's and My jobs' added time: (with) - (without), per backend and case."""
    out = []
    by = {(r["backend"], r["case"]): r for r in rows}
    for r in rows:
        if r["kind"] == "panel":
            base = by[(r["backend"], r["case"].replace("host page + panel", "host page"))]
            out.append({**r, "what": "panel", "added": r["median"] - base["median"]})
        if r["case"] == "admin index with My jobs":
            base = by[(r["backend"], "admin index without My jobs")]
            out.append({**r, "what": "My jobs", "added": r["median"] - base["median"]})
    return out


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    out = []
    for a in added(rows):
        if a["what"] == "panel":
            out.append(
                (
                    f"adds < 5 ms ({ms(a['added'])} ms)",
                    f"{a['backend']}: {a['case']}",
                    a["added"] < PANEL_TARGET,
                )
            )
    for r in rows:
        if r["kind"] == "api":
            out.append(
                (
                    f"median < 30 ms ({ms(r['median'])} ms)",
                    f"{r['backend']}: {r['case']}",
                    r["median"] < API_TARGET,
                )
            )
    return out


def report(rows: list[dict[str, Any]], machine: str, seconds: float) -> str:
    body = [machine, ""]
    body.append(
        "Server time of one request (Flask test client, logged in as admin, body read), median "
        "and p95 in ms over *n* timed requests after two warm-ups. *host page* is a plain "
        "template of the host (loaded once, like its files); *+ panel* is the same with "
        "`{{ jobs_admin_panel(reference=..., limit=5) }}` (the dataset's `PO-*` references "
        "each have about one job; the busiest "
        "reference is named with its count). The admin index is timed with `JOBS_ADMIN_MY_JOBS` "
        'off and on (the navbar\'s "My jobs": the running count from the counters and the live '
        "cursor). `api/jobs` filters as the list does; the cursor case continues from the middle "
        "of the history (keyset, no OFFSET)."
    )
    body.append("")
    for backend in dict.fromkeys(r["backend"] for r in rows):
        body.append(f"### {backend}")
        body.append("")
        sel = [r for r in rows if r["backend"] == backend]
        body.append(
            table(
                ["jobs", "request", "median", "p95"],
                [
                    [
                        human(r["size"]),
                        r["case"],
                        ms(r["median"]),
                        ms(r["p95"]) + (f" (n={r['n']})" if r["n"] < 20 else ""),
                    ]
                    for r in sel
                ],
            )
        )
        body.append("")
        extra = [a for a in added(rows) if a["backend"] == backend]
        body.append(
            table(
                ["added by", "case", "added median"],
                [[a["what"], a["case"], ms(a["added"])] for a in extra],
            )
        )
        body.append("")
    tg = targets(rows)
    if tg:
        body.append("### Targets")
        body.append("")
        body.append(table(["where", "target", "result"], [[w, t, verdict(ok)] for t, w, ok in tg]))
        body.append("")
    body.append(f"This run took {seconds / 60:.1f} min.")
    return "\n".join(body)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--backends", type=parse_backends, default="sqlite,postgresql")
    p.add_argument("--repeat", type=int, default=30, help="timed requests per case (default 30)")
    p.add_argument("--budget", type=float, default=10.0, help="seconds per case at most")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs alone")
    args = p.parse_args()
    m = print_machine()
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for backend in args.backends:
        rows += run_one(backend, args.size, args.repeat, args.budget)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "panel_api.json").write_text(json.dumps(rows, indent=1))
    for what, where, ok in targets(rows):
        print(f"target {'met   ' if ok else 'MISSED'} {where}: {what}")
    if not args.no_write:
        write_section(
            "panel-api",
            "Job panel, My jobs and the JSON API at 1,000,000 jobs (issue 15)",
            report(rows, machine_line(m), time.perf_counter() - t0),
        )


if __name__ == "__main__":
    main()
