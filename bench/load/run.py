"""The load test: admins and workers on the demo at once, served as docs/deploy describes.

``python bench/load/run.py`` starts, on a PostgreSQL database:

* the web: gunicorn with ``docs/deploy/gunicorn.conf.py`` (``gthread``, 2 processes, the
  processes' jobs worker off: ``FLASK_JOBS_ADMIN_WORKER=off`` as in ``shop.env``);
* 2 ``flask jobs worker`` processes (``FLASK_JOBS_ADMIN_CONCURRENCY=8``, as in ``shop.env``);
* Locust (``bench/load/locustfile.py``) with ``--users`` admins, each signed in with the list's
  live socket open while it clicks;
* once every admin is in, the producer (``bench/load/enqueue.py``): ``--rate`` short demo jobs a
  second for ``--duration`` seconds.

Then it waits until every enqueued job ended, stops everything and checks the database: every
job enqueued is there and ended exactly once (one end event each, whatever retries it took), the
counters equal a ``GROUP BY status`` of the table, nothing is left pending or running; and the
sockets: each saw every job end once (none lost, none doubled) unless told to resynchronise.
It prints the figures (p50/p95/p99 per page from Locust, errors, socket messages against the
changes made, jobs/s, the CPU each part used) and, with ``--report``, writes them to
``docs/benchmarks.md``.

Without ``--url`` the database is a copy of the cached 1,000,000-job history
(``bench/_dataset.py``; set ``JOBS_ADMIN_BENCH_TAG``), its pending and running tail settled
first so that the workers run only this run's jobs. ``tests/test_load.py`` runs a short one.

Usage: ``python bench/load/run.py [--users 50] [--rate 500] [--duration 60] [--report]``
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for _path in (ROOT, HERE.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

ENDED = ("completed", "failed", "partial", "cancelled")
#: The pages whose p95 the issue sets a target for (ms).
TARGETS = {"list": 200.0, "detail": 200.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """The processes of one run, their logs in ``workdir``; stopped by :meth:`stop`."""

    def __init__(self, url: str, workdir: Path, threads: int) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            "PYTHONUNBUFFERED": "1",
            "FLASK_APP": "wsgi",
            "FLASK_SECRET_KEY": secrets.token_hex(32),
            "FLASK_SQLALCHEMY_DATABASE_URI": url,
            "FLASK_JOBS_ADMIN_WORKER": "off",
            "FLASK_JOBS_ADMIN_CONCURRENCY": "8",
            "FLASK_JOBS_ADMIN_RESULTS_DIR": str(workdir / "results"),
            "FLASK_JOBS_ADMIN_HOUSEKEEPING_CRON": "null",
            # Short jobs: the demo's types without their on-purpose sleeps.
            "FLASK_DEMO_JOB_DELAY": "0",
            "SHOP_BIND": f"127.0.0.1:{self.port}",
            # Every admin holds a socket, so a thread: threads for the sockets and the clicks,
            # and a per-user cap that lets the admins (all one demo user) open them all.
            "SHOP_WEB_THREADS": str(threads),
            "FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS": str(threads),
            "FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER": str(threads),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.workdir / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start_servers(self) -> None:
        for n in (1, 2):
            self.start(f"worker{n}", [sys.executable, "-m", "flask", "jobs", "worker"])
        self.start(
            "web",
            [sys.executable, "-m", "gunicorn", "-c", "docs/deploy/gunicorn.conf.py", "wsgi:app"],
        )
        deadline = time.monotonic() + 60
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)}")
            try:
                with urllib.request.urlopen(f"{self.base}/login", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer:\n{self.log('web')}")
            time.sleep(0.3)

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def stop(self, name: str, timeout: float = 60) -> int | None:
        proc = self.procs.get(name)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def stop_all(self) -> dict[str, int | None]:
        return {name: self.stop(name) for name in list(self.procs)}


class CpuMeter:
    """CPU seconds used by each part of the run (a process and its children) over a window."""

    def __init__(self, stack: Stack) -> None:
        import psutil

        self.psutil = psutil
        self.stack = stack
        self.before: dict[str, float] = {}

    def _parts(self) -> dict[str, float]:
        psutil = self.psutil
        used: dict[str, float] = {}
        for name, proc in self.stack.procs.items():
            part = "web" if name == "web" else "workers" if name.startswith("worker") else name
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(proc.pid)
                for q in [p, *p.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        t = q.cpu_times()
                        used[part] = used.get(part, 0.0) + t.user + t.system
        for q in psutil.process_iter(["name"]):
            if q.info["name"] and q.info["name"].startswith("postgres"):
                with contextlib.suppress(psutil.Error):
                    t = q.cpu_times()
                    used["postgresql"] = used.get("postgresql", 0.0) + t.user + t.system
        return used

    def start(self) -> None:
        self.before = self._parts()
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Each part's share of the machine's CPUs over the window, in percent of one core."""
        after = self._parts()
        seconds = time.monotonic() - self.t0
        return {
            part: round(100 * (after[part] - self.before.get(part, 0.0)) / seconds, 1)
            for part in sorted(after)
        }


def prepare(url: str, settle_history: bool) -> None:
    """Tables, demo users; with ``settle_history``, the history's unfinished jobs cancelled."""
    import sqlalchemy as sa

    import host_app
    from host_app.cli import ensure_demo_users
    from host_app.extensions import db, jobs

    app = host_app.create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "JOBS_ADMIN_WORKER": "off", "SECRET_KEY": "prepare"}
    )
    with app.app_context():
        db.create_all()
        ensure_demo_users()
        db.session.commit()
        if settle_history:
            j = jobs.Job
            db.session.execute(
                sa.update(j)
                .where(j.status.in_(("pending", "running")))
                .values(status="cancelled", finished_at=sa.func.now(), worker=None)
            )
            db.session.commit()
            jobs.recount()
        db.session.remove()
        db.engine.dispose()


def _locust_stats(prefix: Path) -> list[dict[str, Any]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    rows = []
    with path.open() as fh:
        for row in csv.DictReader(fh):

            def num(key: str, row: dict[str, str] = row) -> float:
                value = row.get(key) or "0"
                return float(value) if value not in ("N/A", "") else float("nan")

            rows.append(
                {
                    "type": row["Type"],
                    "name": row["Name"],
                    "requests": int(num("Request Count")),
                    "failures": int(num("Failure Count")),
                    "p50": num("50%"),
                    "p95": num("95%"),
                    "p99": num("99%"),
                    "rps": num("Requests/s"),
                }
            )
    return rows


def _locust_failures(prefix: Path) -> list[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open() as fh:
        return [
            f"{r['Method']} {r['Name']}: {r['Error']} (x{r['Occurrences']})"
            for r in csv.DictReader(fh)
        ]


def _server_errors(stack: Stack) -> list[str]:
    """5xx lines of gunicorn's access log and tracebacks in every server log."""
    found = []
    for name in stack.procs:
        path = stack.workdir / f"{name}.log"
        if not path.exists() or name in ("locust", "enqueue"):
            continue
        for line in path.read_text(errors="replace").splitlines():
            if (name == "web" and '" 5' in line) or line.startswith("Traceback"):
                found.append(f"{name}: {line[:200]}")
    return found


def check_database(url: str, reference: str) -> dict[str, Any]:
    """What the database says after the run (see the module's docstring)."""
    import sqlalchemy as sa

    import host_app
    from host_app.extensions import db, jobs

    app = host_app.create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "JOBS_ADMIN_WORKER": "off", "SECRET_KEY": "check"}
    )
    with app.app_context():
        j, e = jobs.store.jobs, jobs.store.events
        mine = j.c.reference.like(f"{reference}%")
        conn = db.session.connection()
        total = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
        by_status = dict(
            conn.execute(
                sa.select(j.c.status, sa.func.count()).where(mine).group_by(j.c.status)
            ).all()
        )
        ids = set(conn.execute(sa.select(j.c.id).where(mine)).scalars())
        ended_status = e.c.data["status"].as_string()
        ends = dict(
            conn.execute(
                sa.select(e.c.job_id, sa.func.count())
                .select_from(e.join(j, j.c.id == e.c.job_id))
                .where(mine, e.c.kind == "status", ended_status.in_(ENDED))
                .group_by(e.c.job_id)
            ).all()
        )
        changes = conn.execute(
            sa.select(sa.func.count())
            .select_from(e.join(j, j.c.id == e.c.job_id))
            .where(mine, e.c.kind == "status")
        ).scalar_one()
        window = conn.execute(
            sa.select(sa.func.min(j.c.created_at), sa.func.max(j.c.finished_at)).where(mine)
        ).one()
        real = dict(conn.execute(sa.select(j.c.status, sa.func.count()).group_by(j.c.status)).all())
        counters = {k: v for k, v in jobs.counts().items() if v and k != "total"}
        db.session.remove()
        db.engine.dispose()
    first, last = window
    span = (last - first).total_seconds() if first and last else float("nan")
    return {
        "jobs": total,
        "by_status": by_status,
        "ended_once": sum(1 for i in ids if ends.get(i) == 1),
        "never_ended": sorted(i for i in ids if i not in ends)[:20],
        "ended_twice": sorted(i for i, n in ends.items() if n > 1)[:20],
        "not_ended": sum(n for s, n in by_status.items() if s not in ENDED),
        "running_anywhere": real.get("running", 0),
        "pending_anywhere": real.get("pending", 0),
        "counters": counters,
        "group_by": {k: v for k, v in real.items() if v},
        "counters_match": counters == {k: v for k, v in real.items() if v},
        "status_changes": changes,
        "span_seconds": span,
        "ended_ids": sorted(ids),
    }


def check_sockets(report: list[dict[str, Any]], ended: list[int]) -> dict[str, Any]:
    """Per socket: which of the run's job ends it missed or got twice."""
    want = set(ended)
    lost = doubled = resynced = 0
    closes: dict[str, int] = {}
    for sock in report:
        for code in sock["closes"]:
            closes[str(code)] = closes.get(str(code), 0) + 1
        doubled += len(sock["doubled"])
        if sock["resyncs"]:
            resynced += 1
            continue  # the page reloads: what it missed it gets from the reload
        lost += len(want - set(sock["ended"]))
    n = len(report) or 1
    return {
        "sockets": len(report),
        "messages_per_socket": round(sum(s["messages"] for s in report) / n, 1),
        "rows_per_socket": round(sum(s["rows"] for s in report) / n, 1),
        "ends_per_socket": round(sum(len(s["ended"]) for s in report) / n, 1),
        "lost": lost,
        "doubled": doubled,
        "resynced": resynced,
        "reconnects": sum(s["reconnects"] for s in report),
        "closes": closes,
    }


def run(
    url: str,
    *,
    users: int,
    rate: float,
    duration: float,
    workdir: Path,
    threads: int | None = None,
    settle_timeout: float = 600,
) -> dict[str, Any]:
    """One run against the prepared database ``url``; the figures and checks as a dict."""
    threads = threads or max(16, users + 8)
    reference = f"load-{int(time.time())}-"
    stack = Stack(url, workdir, threads)
    spawn = max(1.0, users / 2)
    warmup = users / spawn + 4
    start_at = time.time() + 8 + warmup  # the servers' start, the admins' sign-in
    prefix = workdir / "locust"
    ws_report = workdir / "sockets.json"
    result: dict[str, Any] = {"users": users, "rate": rate, "duration": duration}
    try:
        stack.start_servers()
        start_at = time.time() + warmup
        stack.start(
            "locust",
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(HERE / "locustfile.py"),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(spawn),
                "--host",
                stack.base,
                "--csv",
                str(prefix),
                "--run-time",
                # An upper bound: the run stops Locust itself once every job ended.
                f"{int(warmup + duration + 2 * settle_timeout + 60)}s",
                "--stop-timeout",
                "5",
                "--exit-code-on-error",
                "0",
                "--only-summary",
            ],
            env={
                "LOAD_START_AT": str(start_at),
                "LOAD_STOP_AT": str(start_at + duration),
                "LOAD_REFERENCE": reference,
                "LOAD_WS_REPORT": str(ws_report),
            },
        )
        time.sleep(max(0.0, start_at - time.time()))
        meter = CpuMeter(stack)
        meter.start()
        producer = subprocess.run(
            [
                sys.executable,
                str(HERE / "enqueue.py"),
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--reference",
                reference,
            ],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
        )
        if producer.returncode:
            raise RuntimeError(f"the producer failed:\n{producer.stdout}\n{producer.stderr}")
        result["cpu"] = meter.stop()
        result["producer"] = json.loads(producer.stdout.strip().splitlines()[-1])
        settled_at = _wait_settled(url, reference, settle_timeout)
        result["drain_seconds"] = round(settled_at - (start_at + duration), 1)
        time.sleep(3)  # the feed's last reads reach the sockets
        result["exit"] = {"locust": stack.stop("locust")}
    finally:
        result.setdefault("exit", {}).update(stack.stop_all())
    result["pages"] = _locust_stats(prefix)
    result["failures"] = _locust_failures(prefix)
    result["server_errors"] = _server_errors(stack)
    result["database"] = check_database(url, reference)
    sockets = json.loads(ws_report.read_text()) if ws_report.exists() else []
    result["live"] = check_sockets(sockets, result["database"].pop("ended_ids"))
    db_ = result["database"]
    result["jobs_per_second"] = (
        round(db_["jobs"] / db_["span_seconds"], 1) if db_["span_seconds"] else 0.0
    )
    return result


def _wait_settled(url: str, reference: str, timeout: float) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM jobs_admin_job WHERE reference LIKE :p"
                        " AND status IN ('pending', 'running')"
                    ),
                    {"p": f"{reference}%"},
                ).scalar_one()
            if not left or time.monotonic() > deadline:
                return time.time()
            time.sleep(0.5)
    finally:
        engine.dispose()


def render(result: dict[str, Any]) -> str:
    """The figures of a run as Markdown (the docs/benchmarks.md section's body)."""
    from _common import table

    lines = []
    pages = [p for p in result["pages"] if p["name"] != "Aggregated"]
    rows = [
        [p["name"], p["type"], p["requests"], p["failures"], f"{p['p50']:.0f}",
         f"{p['p95']:.0f}", f"{p['p99']:.0f}"]
        for p in pages
    ]  # fmt: skip
    lines.append(table(["page", "kind", "requests", "failed", "p50 ms", "p95 ms", "p99 ms"], rows))
    db_, live, prod = result["database"], result["live"], result["producer"]
    lines.append("")
    lines.append(
        f"- Producer: {prod['enqueued']:,} jobs in {prod['seconds']} s ({prod['rate']} jobs/s"
        f" enqueued; at most {prod['most_behind']} s behind its schedule)."
    )
    lines.append(
        f"- Workers: every job ended {result['drain_seconds']} s after the producer stopped;"
        f" {result['jobs_per_second']} jobs/s done from the first enqueue to the last end."
    )
    lines.append(
        f"- Ends: {db_['ended_once']:,} of {db_['jobs']:,} jobs ended exactly once"
        f" (never: {len(db_['never_ended'])}, twice: {len(db_['ended_twice'])});"
        f" {db_['not_ended']} not ended, {db_['running_anywhere']} running and"
        f" {db_['pending_anywhere']} pending in the whole table; counters"
        f" {'==' if db_['counters_match'] else '!='} GROUP BY."
    )
    lines.append(
        f"- Live: {live['sockets']} sockets; {db_['status_changes']:,} status changes made;"
        f" per socket {live['messages_per_socket']:,} messages, {live['rows_per_socket']:,} job"
        f" rows, {live['ends_per_socket']:,} of this run's ends; lost {live['lost']} (over the"
        f" {live['sockets'] - live['resynced']} sockets never told to resync), doubled"
        f" {live['doubled']}, resynced {live['resynced']}, reconnects {live['reconnects']}."
    )
    errors = sum(p["failures"] for p in pages)
    lines.append(
        f"- Errors: {errors} failed requests, {len(result['server_errors'])} server errors"
        f" (5xx or tracebacks in the logs)."
    )
    cpu = ", ".join(f"{k} {v:.0f}%" for k, v in result.get("cpu", {}).items())
    lines.append(f"- CPU during the load window (100% = one core): {cpu}.")
    return "\n".join(lines)


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[tuple[str, bool]]:
    if url:
        yield url, False
        return
    from _dataset import copy_of, drop_copy

    name = "jobs_admin_load_run"
    copied = copy_of("postgresql", 1_000_000, "mix", name)
    try:
        yield copied, True
    finally:
        drop_copy("postgresql", name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL database (default: a 1M-job history copy)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads per process")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument(
        "--settle-timeout", type=float, default=900.0, help="most seconds to wait for the ends"
    )
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    parser.add_argument("--report", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args()
    from _common import machine_line, print_machine, write_section

    m = print_machine()
    with _database(args.url) as (url, history), tempfile.TemporaryDirectory() as tmp:
        workdir = args.logs or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        prepare(url, settle_history=history)
        result = run(
            url,
            users=args.users,
            rate=args.rate,
            duration=args.duration,
            workdir=workdir,
            threads=args.threads,
            settle_timeout=args.settle_timeout,
        )
    result["machine"] = machine_line(m)
    body = render(result)
    print(body, flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    if args.report:
        write_section(
            "load",
            "Load test: admins and workers at once (Locust)",
            f"{result['machine']}\n\n{body}",
        )


if __name__ == "__main__":
    main()
