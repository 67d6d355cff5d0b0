"""Many worker processes on one database: exactly-once claims, crash recovery, restarts.

These start real ``flask jobs worker`` processes (``tests/scaleout_app.py``) and check the
database afterwards. They are slow by nature (marked ``slow``); ``make test`` runs them.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from host_app.extensions import db, jobs
from tests.scaleout_app import MARKER_DDL

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


class Workers:
    """Start and stop ``flask jobs worker`` processes against one database."""

    def __init__(self, url: str, tmp_path: Path, **config: Any) -> None:
        self.env = {
            **os.environ,
            "FLASK_SQLALCHEMY_DATABASE_URI": url,
            "FLASK_SECRET_KEY": "scale",
            "FLASK_JOBS_ADMIN_WORKER": "off",
            "FLASK_JOBS_ADMIN_POLL_INTERVAL": "0.2",
            "FLASK_JOBS_ADMIN_HEARTBEAT_INTERVAL": "0.5",
            "FLASK_JOBS_ADMIN_STALE_AFTER": "3",
            "FLASK_JOBS_ADMIN_SHUTDOWN_GRACE": "10",
            "FLASK_JOBS_ADMIN_HOUSEKEEPING_CRON": "null",
            "FLASK_JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
            "PYTHONUNBUFFERED": "1",
        }
        for key, value in config.items():
            self.env[f"FLASK_JOBS_ADMIN_{key}"] = str(value)
        self.logs = tmp_path / "worker-logs"
        self.logs.mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        # The child keeps its own copy of the file descriptor; ours closes right away.
        with open(self.logs / f"worker-{len(self.procs)}.log", "wb") as log:
            proc = self._popen(log, concurrency)
        self.procs.append(proc)
        return proc

    def _popen(self, log: Any, concurrency: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "tests.scaleout_app:create_app",
                "jobs",
                "worker",
                "--concurrency",
                str(concurrency),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop_all(self, sig: int = signal.SIGTERM, timeout: float = 30) -> list[int | None]:
        for p in self.alive():
            p.send_signal(sig)
        codes = []
        for p in self.procs:
            try:
                codes.append(p.wait(timeout))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
        return codes

    def output(self) -> str:
        return "\n".join(f.read_text(errors="replace")[-3000:] for f in sorted(self.logs.iterdir()))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def factory(url: str, **config: Any) -> Workers:
        w = Workers(url, tmp_path, **config)
        made.append(w)
        return w

    yield factory
    for w in made:
        w.stop_all(signal.SIGKILL, timeout=5)


def _enqueue(n: int, job_type: str = "scale.marker", **params: Any) -> list[int]:
    ids = []
    for start in range(0, n, 500):
        batch = [jobs.enqueue(job_type, **params) for _ in range(min(500, n - start))]
        db.session.commit()
        ids.extend(j.id for j in batch)
    return ids


def _wait_settled(total: int, procs: Workers, timeout: float) -> dict[str, int]:
    """Wait until no job is pending or running; fail with the workers' output if it lags."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = jobs.counts()
        if counts["total"] == total and counts["pending"] == 0 and counts["running"] == 0:
            return counts
        time.sleep(0.25)
    pytest.fail(f"jobs not settled after {timeout} s: {jobs.counts()}\n{procs.output()}")


def _markers() -> list[tuple[int, int, int]]:
    with db.engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(sa.text("SELECT job_id, attempt, pid FROM scale_marker"))
        ]


def _check_exactly_once(ids: list[int]) -> None:
    marks = _markers()
    by_job: dict[int, int] = {}
    for job_id, _attempt, _pid in marks:
        by_job[job_id] = by_job.get(job_id, 0) + 1
    twice = {j: n for j, n in by_job.items() if n > 1}
    assert not twice, f"jobs whose work was done more than once: {list(twice)[:20]}"
    j = jobs.Job
    completed = set(db.session.scalars(sa.select(j.id).where(j.status == "completed")))
    if set(by_job) != completed:
        odd = sorted(set(by_job) ^ completed)[:10]
        rows = db.session.execute(
            sa.select(j.id, j.status, j.attempts, j.worker, j.error).where(j.id.in_(odd))
        ).all()
        ev = jobs.JobEvent
        events = db.session.execute(
            sa.select(ev.job_id, ev.message).where(ev.job_id.in_(odd)).order_by(ev.id)
        ).all()
        pytest.fail(f"markers and completed jobs differ: {rows}\n{events}")
    assert set(ids) == completed, "every job completed; none was lost"
    counts = jobs.counts()
    with db.engine.connect() as conn:
        real = dict(conn.execute(sa.select(j.status, sa.func.count()).group_by(j.status)).all())
    assert {k: v for k, v in counts.items() if v and k != "total"} == real


def _setup_markers() -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS scale_marker"))
        conn.execute(sa.text(MARKER_DDL))


@pytest.mark.postgres
def test_workers_postgres_four_processes_run_each_job_once(pg_app, pg_url, workers):
    n = int(os.environ.get("JOBS_ADMIN_SCALE_JOBS", "10000"))
    with pg_app.app_context():
        _setup_markers()
        procs = workers(pg_url)
        for _ in range(4):
            procs.start(concurrency=4)
        ids = _enqueue(n)
        _wait_settled(n, procs, timeout=600)
        assert procs.stop_all() == [0, 0, 0, 0], procs.output()
        _check_exactly_once(ids)
        j = jobs.Job
        assert db.session.scalar(sa.select(sa.func.max(j.attempts))) == 1
        pids = {pid for _, _, pid in _markers()}
        assert len(pids) == 4, "all four processes did work"


def test_workers_sqlite_two_processes_run_each_job_once(app, workers):
    n = 2000
    with app.app_context():
        _setup_markers()
        procs = workers(str(db.engine.url))
        procs.start(concurrency=4)
        procs.start(concurrency=4)
        ids = _enqueue(n)
        _wait_settled(n, procs, timeout=300)
        assert procs.stop_all() == [0, 0], procs.output()
        _check_exactly_once(ids)
        assert len({pid for _, _, pid in _markers()}) == 2


def _crash_test(url: str, workers: Callable[..., Workers], seed: int) -> None:
    rnd = random.Random(seed)
    _setup_markers()
    procs = workers(url)
    for _ in range(3):
        procs.start(concurrency=3)
    ids = _enqueue(300, sleep=0.03)
    kills = 0
    deadline = time.monotonic() + 30
    while kills < 8 and time.monotonic() < deadline:
        time.sleep(rnd.uniform(0.3, 0.9))
        alive = procs.alive()
        if alive:
            rnd.choice(alive).send_signal(signal.SIGKILL)
            kills += 1
            procs.start(concurrency=3)
    counts = _wait_settled(300, procs, timeout=180)
    assert counts["completed"] == 300, (counts, procs.output())
    procs.stop_all()
    _check_exactly_once(ids)
    lost = jobs.store.events
    with db.engine.connect() as conn:
        rescued = conn.execute(
            sa.select(sa.func.count()).where(lost.c.message.like("worker lost%"))
        ).scalar()
    # A kill that landed between jobs rescues nothing; eight kills mid-work rescue some.
    assert rescued and rescued > 0


@pytest.mark.postgres
def test_workers_postgres_killed_processes_lose_nothing(pg_app, pg_url, workers):
    with pg_app.app_context():
        _crash_test(pg_url, workers, seed=7)


def test_workers_sqlite_killed_processes_lose_nothing(app, workers):
    with app.app_context():
        _crash_test(str(db.engine.url), workers, seed=11)


@pytest.mark.postgres
def test_worker_sigterm_hands_back_and_next_worker_resumes(pg_app, pg_url, workers, wait_for):
    with pg_app.app_context():
        _setup_markers()
        procs = workers(pg_url, PROGRESS_INTERVAL=0)
        first = procs.start(concurrency=2)
        job = jobs.enqueue("scale.resumable", items=60, delay=0.05, commit=True)
        j = jobs.Job

        def progress() -> int:
            with db.engine.connect() as conn:
                return conn.execute(sa.select(j.progress_done).where(j.id == job.id)).scalar() or 0

        wait_for(lambda: progress() >= 10, timeout=30)
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0, procs.output()
        db.session.expire_all()
        row = jobs.get(job.id)
        assert row.status == "pending", procs.output()
        assert row.attempts == 0, "a hand-back does not use up an attempt"
        reached = row.progress_done
        assert 10 <= reached < 60
        messages = [
            e.message
            for e in db.session.scalars(
                sa.select(jobs.JobEvent).where(jobs.JobEvent.job_id == job.id)
            )
        ]
        assert any(m.startswith("paused: ") and m.endswith(" shut down") for m in messages)
        procs.start(concurrency=2)
        wait_for(lambda: jobs.store.counts(db.session)["completed"] == 1, timeout=30)
        db.session.expire_all()
        row = jobs.get(job.id)
        assert row.result == {"resumed_at": reached}
        assert row.attempts == 1 and row.progress_done == 60
        assert len(_markers()) == 1


def _pg_cluster() -> list[str]:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        reason = "restarting PostgreSQL needs root and pg_ctlcluster"
        if os.environ.get("JOBS_ADMIN_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


@pytest.mark.postgres
def test_workers_survive_a_postgres_restart(pg_app, pg_url, workers):
    cluster = _pg_cluster()
    with pg_app.app_context():
        _setup_markers()
        procs = workers(pg_url)
        procs.start(concurrency=3)
        procs.start(concurrency=3)
        ids = _enqueue(400, sleep=0.02)
        deadline = time.monotonic() + 60
        while jobs.store.counts(db.session)["completed"] < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        db.session.remove()
        subprocess.run([*cluster, "restart"], check=True, timeout=120)
        db.engine.dispose()
        _wait_settled(400, procs, timeout=180)
        assert all(p.poll() is None for p in procs.procs), "no worker crashed"
        procs.stop_all()
        _check_exactly_once(ids)


def test_worker_sqlite_sees_another_process_enqueue_without_polling(app, workers, wait_for):
    # A 30 s poll: only PRAGMA data_version can make the worker notice the job sooner.
    with app.app_context():
        _setup_markers()
        procs = workers(str(db.engine.url), POLL_INTERVAL=30)
        procs.start(concurrency=2)
        wait_for(lambda: "Ctrl-C to stop" in procs.output(), timeout=30)
        time.sleep(1)  # the worker's first claim (at start) has found nothing
        started = time.monotonic()
        job = jobs.enqueue("scale.marker", commit=True)
        wait_for(lambda: jobs.store.counts(db.session)["completed"] == 1, timeout=20)
        assert time.monotonic() - started < 5, procs.output()
        assert procs.stop_all() == [0]
        assert [m[0] for m in _markers()] == [job.id]
