"""Shared helpers of the benchmark scripts: the machine line, statistics, databases, the report.

Files starting with an underscore are helpers: ``make bench`` runs only the other scripts.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
REPORT = ROOT / "docs" / "benchmarks.md"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The PostgreSQL server the benchmarks use (a database per dataset is created on it).
PG_SERVER = os.environ.get("JOBS_ADMIN_BENCH_PG", "postgresql+psycopg://root@127.0.0.1:5432")
#: Redis for the RQ peer.
REDIS_URL = os.environ.get("JOBS_ADMIN_BENCH_REDIS", "redis://127.0.0.1:6379/15")

FULL_SIZES = (10_000, 100_000, 1_000_000)


# -- machine -------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def pg_version() -> str:
    try:
        import psycopg

        with psycopg.connect(pg_conninfo("postgres"), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]).split()[0] if row else "?"
    except Exception as exc:  # the report still says what failed
        return f"unreachable ({type(exc).__name__})"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "ram": f"{_ram_gib():.0f} GiB",
        "postgresql": pg_version(),
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "load": load(),
        "commit": git_rev(),
    }


def machine_line(m: dict[str, str] | None = None) -> str:
    m = m or machine()
    return (
        f"Measured {m['date']} on {m['nproc']} x {m['cpu']}, {m['ram']} RAM, "
        f"PostgreSQL {m['postgresql']}, SQLite {m['sqlite']}, Python {m['python']}; "
        f"load average at start {m['load']}; code at {m['commit']}."
    )


def print_machine() -> dict[str, str]:
    m = machine()
    print(machine_line(m), flush=True)
    return m


def wait_for_quiet(max_load: float = 2.5, timeout: float = 0.0) -> None:
    """Wait up to ``timeout`` s for the 1-minute load to drop below ``max_load`` (shared box)."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)


# -- statistics ----------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    value = seconds * 1000
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def ratio(a: float, b: float) -> str:
    """``a / b`` as "12.3x"."""
    if not b or a != a or b != b:
        return "n/a"
    r = a / b
    return f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        mult = 1
        if part.endswith("k"):
            mult, part = 1000, part[:-1]
        elif part.endswith("m"):
            mult, part = 1_000_000, part[:-1]
        out.append(int(float(part) * mult))
    return out


BACKENDS = ("postgresql", "sqlite")


def parse_backends(text: str) -> list[str]:
    """``postgresql``, ``sqlite``, ``both`` or a comma-separated list, checked (an argparse
    ``type``: a typo fails the command instead of silently running SQLite)."""
    import argparse

    if text.strip() == "both":
        return list(BACKENDS)
    out = [part.strip() for part in text.split(",") if part.strip()]
    for part in out:
        if part not in BACKENDS:
            raise argparse.ArgumentTypeError(
                f"unknown backend {part!r}: postgresql, sqlite or both"
            )
    return out


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


@contextmanager
def timer() -> Iterator[list[float]]:
    box: list[float] = []
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - t0)


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process in MB."""
    path = Path(f"/proc/{pid or 'self'}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int | None = None) -> float:
    path = Path(f"/proc/{pid or 'self'}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux ≥ 4.0: write 5 to clear_refs); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# -- PostgreSQL ----------------------------------------------------------------------------


def pg_url(dbname: str) -> str:
    return f"{PG_SERVER}/{dbname}"


def pg_conninfo(dbname: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url(dbname)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def pg_admin() -> Any:
    import psycopg

    return psycopg.connect(pg_conninfo("postgres"), autocommit=True)


def pg_exists(dbname: str) -> bool:
    with pg_admin() as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            is not None
        )


def pg_drop(dbname: str) -> None:
    with pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def pg_create(dbname: str, template: str | None = None) -> None:
    with pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if template:
            conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{dbname}"')


@contextmanager
def pg_throwaway(prefix: str, template: str | None = None) -> Iterator[str]:
    """A fresh database (optionally a copy of ``template``), dropped afterwards."""
    name = f"{prefix}_{os.getpid()}"
    pg_create(name, template)
    try:
        yield name
    finally:
        pg_drop(name)


# -- the bench app -------------------------------------------------------------------------

BENCH_TYPES = [f"bench.type{n:02d}" for n in range(1, 16)]
_registered = False


def register_bench_types() -> None:
    """Register the no-op job types the datasets and workers use (once per process)."""
    global _registered
    if _registered:
        return
    from host_app.extensions import jobs

    for name in [*BENCH_TYPES, "bench.noop", "bench.stamp"]:
        if name in jobs.registry:
            continue

        if name == "bench.stamp":

            def stamp(ctx: Any, t0: float = 0.0, out: str = "") -> None:
                started = time.time()
                with open(out, "a") as fh:
                    fh.write(f"{started - t0:.6f}\n")

            jobs.job_type(name, title="Latency stamp")(stamp)
        else:

            def noop(ctx: Any, **params: Any) -> None:
                return None

            jobs.job_type(name, title=name.split(".")[1].title())(noop)
    _registered = True


def make_app(url: str, **config: Any) -> Any:
    """The demo host on ``url`` with its worker off (benchmarks start workers themselves)."""
    import host_app

    register_bench_types()
    settings = {
        "SQLALCHEMY_DATABASE_URI": url,
        "JOBS_ADMIN_WORKER": "off",
        "JOBS_ADMIN_HOUSEKEEPING_CRON": None,
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "bench",
        "TESTING": False,
        "DEMO_JOB_DELAY": 0,
    }
    settings.update(config)
    return host_app.create_app(settings)


def login(client: Any, who: str) -> Any:
    """Sign ``client`` in as the demo user ``who`` through the login form, CSRF token included.

    :param client: a Flask test client of :func:`make_app`'s app.
    :param who: the demo user (password = name).
    """
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "no csrf_token on the login page"
    return client.post("/login", data={"csrf_token": token[1], "username": who, "password": who})


# -- the report ----------------------------------------------------------------------------

_HEADER = """# Benchmarks

Every figure here was written by a script in `bench/` (`make bench` runs them all; each also
runs alone, with `--help` for its options). Each section compares, in the same run, against a
peer or a floor, so that its ratios hold on a noisy machine; the absolute figures move with the
machine's load (the line under each heading says what it was).

"""


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section ``name`` of ``docs/benchmarks.md``.

    A section lives between ``<!-- bench:name -->`` and ``<!-- /bench:name -->``; the rest of
    the file (other sections, hand-written text) is left alone.
    """
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else _HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n## {title}\n\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.write_text(text if text.endswith("\n") else text + "\n")
    print(f"wrote section {name!r} of {REPORT.relative_to(ROOT)}", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def git_rev() -> str:
    """The commit measured, and whether jobs_admin/ had uncommitted changes (a shared tree)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "jobs_admin", "host_app"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "?"
    return f"{rev} (+ uncommitted changes in jobs_admin/)" if dirty else rev
