"""Deploys pause and resume: whatever ends a process, its running jobs are handed back, Paused.

Real processes on the demo shop: gunicorn with ``docs/deploy/gunicorn.conf.py``, ``flask run``
stopped with Ctrl-C, and a script that returns while its worker runs a job. Each hands the
long ``search.reindex`` job back; a ``flask jobs worker`` then resumes it from its progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.live_client import free_port, gunicorn_example

ROOT = Path(__file__).resolve().parent.parent

#: Documents the reindex job indexes; at ``DELAY`` it runs for a dozen seconds.
ITEMS = 600
#: ``DEMO_JOB_DELAY``: the reindex job sleeps twice this per document.
DELAY = 0.01


def _env(app: Flask, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a demo process on ``app``'s database, the embedded worker on."""
    return {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "deploy-test-secret",
        "FLASK_JOBS_ADMIN_WORKER": "embedded",
        "FLASK_JOBS_ADMIN_POLL_INTERVAL": "0.2",
        "FLASK_JOBS_ADMIN_HOUSEKEEPING_CRON": "null",
        "FLASK_JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
        "FLASK_DEMO_JOB_DELAY": str(DELAY),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Job:
    """Reads one job and its events straight from the database (no session cache)."""

    def __init__(self, app: Flask, jobs: Any, job_id: int) -> None:
        self.app, self.jobs, self.id = app, jobs, job_id

    def row(self) -> dict[str, Any]:
        j = self.jobs.store_of(self.app).jobs
        with self.app.app_context(), self.jobs.db.engine.connect() as conn:
            return dict(conn.execute(sa.select(j).where(j.c.id == self.id)).mappings().one())

    def events(self, kind: str) -> list[dict[str, Any]]:
        e = self.jobs.store_of(self.app).events
        stmt = sa.select(e).where(e.c.job_id == self.id, e.c.kind == kind).order_by(e.c.id)
        with self.app.app_context(), self.jobs.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]


@pytest.fixture
def reindex(app: Flask, jobs: Any) -> Job:
    """A long ``search.reindex`` job, pending, on the ``app`` fixture's database."""
    with app.app_context():
        job_id = jobs.enqueue("search.reindex", items=ITEMS, created_by="admin", commit=True).id
        return Job(app, jobs, job_id)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed at the end if still running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until ``url`` answers (which also starts the embedded worker lazily)."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            with urllib.request.urlopen(url, timeout=2) as page:
                page.read()
            return
        except OSError:
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)


def _assert_paused(job: Job, reached_at_least: int) -> dict[str, Any]:
    """The job was handed back: pending, Paused, progress kept, no attempt spent."""
    row = job.row()
    assert row["status"] == "pending", row
    assert row["phase"] == "Paused"
    assert row["attempts"] == 0 and row["worker"] is None and row["finished_at"] is None
    assert reached_at_least <= row["progress_done"] < ITEMS
    assert row["progress_total"] == ITEMS
    last = job.events("status")[-1]
    assert last["message"].startswith("paused: ") and last["message"].endswith(" shut down")
    assert last["data"]["paused"]["done"] == row["progress_done"]
    return row


def _no_errors(output: str) -> None:
    assert "Traceback" not in output, output
    assert " ERROR " not in output and "ERROR:" not in output, output
    assert "cannot schedule new futures" not in output, output


def _resume_with_a_worker(
    app: Flask, job: Job, paused: dict[str, Any], tmp_path: Path, wait_for: Any, procs: list[Any]
) -> None:
    """A ``flask jobs worker`` resumes the job from its progress; it completes exactly once."""
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker", "-c", "2"],
            cwd=ROOT,
            env=_env(app, tmp_path, FLASK_JOBS_ADMIN_WORKER="off"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    procs.append(worker)
    wait_for(lambda: job.row()["status"] == "completed", timeout=60)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log.read_text(errors="replace")
    row = job.row()
    assert row["progress_done"] == row["progress_total"] == ITEMS  # never 336/300
    assert row["result"] == {"documents": ITEMS}
    assert row["attempts"] == 1 and row["phase"] is None
    assert row["started_at"] == paused["started_at"]  # Started stays the first start
    statuses = [e["message"] for e in job.events("status")]
    assert statuses.count("completed") == 1
    resumed = [m for m in statuses if m.startswith("resumed on ")]
    assert resumed == [f"resumed on {row['worker']} at {paused['progress_done']}/{ITEMS}"]
    steps = [e["message"] for e in job.events("step")]
    assert steps == ["Collecting documents", "Indexing", "Swapping index"]  # none twice
    # Every document indexed once: the log says so every 50 of them, each line once.
    logs = [e["message"] for e in job.events("log")]
    assert logs == [f"indexed {n} of {ITEMS} documents" for n in range(50, ITEMS + 1, 50)]
    _no_errors(log.read_text(errors="replace"))


def _gunicorn_pauses_and_a_worker_resumes(
    app: Flask, jobs: Any, tmp_path: Path, wait_for: Any, procs: list[Any]
) -> None:
    with app.app_context():
        job_id = jobs.enqueue("search.reindex", items=ITEMS, created_by="admin", commit=True).id
    reindex = Job(app, jobs, job_id)
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = _env(app, tmp_path, SHOP_BIND=f"127.0.0.1:{port}", SHOP_WEB_WORKERS="1")
    web = gunicorn_example(env, log)
    procs.append(web)
    _wait_http(f"http://127.0.0.1:{port}/login", web, log)
    wait_for(lambda: reindex.row()["progress_done"] >= 5, timeout=60)
    web.send_signal(signal.SIGTERM)
    # Well before gunicorn's graceful_timeout (35 s) would kill the worker: the job hands
    # itself back at its next check, and the worker process exits.
    assert web.wait(30) == 0, log.read_text(errors="replace")
    output = log.read_text(errors="replace")
    _no_errors(output)
    paused = _assert_paused(reindex, 5)
    _resume_with_a_worker(app, reindex, paused, tmp_path, wait_for, procs)


@pytest.mark.slow
def test_deploy_gunicorn_sigterm_pauses_the_job_and_a_worker_resumes_it(
    app: Flask,
    jobs: Any,
    tmp_path: Path,
    wait_for: Any,
    processes: list[Any],
) -> None:
    _gunicorn_pauses_and_a_worker_resumes(app, jobs, tmp_path, wait_for, processes)


@pytest.mark.slow
@pytest.mark.postgres
def test_deploy_gunicorn_sigterm_pauses_the_job_on_postgresql(
    pg_app: Flask,
    jobs: Any,
    tmp_path: Path,
    wait_for: Any,
    processes: list[Any],
) -> None:
    _gunicorn_pauses_and_a_worker_resumes(pg_app, jobs, tmp_path, wait_for, processes)


@pytest.mark.slow
def test_deploy_flask_run_ctrl_c_pauses_the_job(
    app: Flask,
    reindex: Job,
    tmp_path: Path,
    wait_for: Any,
    processes: list[Any],
) -> None:
    port = free_port()
    log = tmp_path / "flask-run.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "flask", "--app", "wsgi", "run"),
                *("--port", str(port), "--no-reload", "--no-debugger"),
            ],
            cwd=ROOT,
            env=_env(app, tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    processes.append(server)
    _wait_http(f"http://127.0.0.1:{port}/login", server, log)
    wait_for(lambda: reindex.row()["progress_done"] >= 5, timeout=60)
    server.send_signal(signal.SIGINT)  # Ctrl-C
    assert server.wait(30) == 0, log.read_text(errors="replace")
    _no_errors(log.read_text(errors="replace"))
    _assert_paused(reindex, 5)


#: A script that starts the embedded worker on a job and returns while the job runs.
SCRIPT = """
import logging, sys, time
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from host_app import create_app
from host_app.extensions import jobs
app = create_app()
with app.app_context():
    jobs.start_worker()
    job = jobs.get({job_id})
    while (job.progress_done or 0) < 5:
        time.sleep(0.05)
        jobs.db.session.expire_all()
        job = jobs.get({job_id})
print("returning at", job.progress_done, flush=True)
"""


@pytest.mark.slow
def test_deploy_a_script_that_returns_hands_its_job_back(
    app: Flask, reindex: Job, tmp_path: Path, wait_for: Any, processes: list[Any]
) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(job_id=reindex.id)))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**_env(app, tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "returning at" in output
    _no_errors(output)
    paused = _assert_paused(reindex, 5)
    assert "jobs_admin worker" in output and "stopped with jobs still running" not in output
    assert paused["heartbeat_at"] is None


def test_deploy_stop_runs_before_the_thread_pools_exit() -> None:
    """The interpreter's exit stops a worker while ``concurrent.futures`` still runs jobs."""
    code = textwrap.dedent(
        """
        import concurrent.futures, threading, time
        from jobs_admin.worker import before_pools_exit
        pool = concurrent.futures.ThreadPoolExecutor(2)
        stop = threading.Event()
        seen = []
        def job():
            while not stop.wait(0.01):
                pass
            seen.append("job stopped")
        pool.submit(job)
        def on_exit():
            # The pool still takes work: concurrent.futures has not shut down yet.
            pool.submit(seen.append, "submitted at exit").result(5)
            stop.set()
        before_pools_exit(on_exit)
        import atexit
        atexit.register(lambda: print(seen, flush=True))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['submitted at exit', 'job stopped']", done.stderr


# -- the pieces, in one process ----------------------------------------------------------------


def _context(**options: Any) -> Any:
    from jobs_admin.context import JobContext

    writes: list[Any] = []
    ctx = JobContext(
        job_id=1,
        job_type="test.noop",
        params={},
        attempt=1,
        max_attempts=1,
        progress_total=options.pop("total", None),
        progress_done=options.pop("done", 0),
        progress_failed=0,
        results_dir=Path("."),
        timeout=None,
        flush=lambda values, events: writes.append((values, events)) or True,
        progress_interval=0,
        **options,
    )
    return ctx, writes


def test_context_advance_never_passes_the_total() -> None:
    ctx, _writes = _context(total=300, done=36, resumed=True)
    for _ in range(300):  # a job that redoes every item after its pause
        ctx.advance()
    assert ctx.done == 300
    ctx.item_failed("x", "no luck")
    ctx.advance()
    assert ctx.done + ctx.failed == 301 - 1  # the failed item leaves room for one less done


def test_context_resumed_step_is_recorded_once() -> None:
    ctx, writes = _context(resumed=True, steps=["Collecting documents", "Indexing"])
    ctx.step("Indexing")  # begun again after the pause: only the phase
    ctx.step("Swapping index")
    ctx.step("Indexing")  # a new step of this run with the same name counts again
    steps = [e["message"] for _values, events in writes for e in events if e["kind"] == "step"]
    assert steps == ["Swapping index", "Indexing"]
    assert writes[0][0] == {"phase": "Indexing"}
    assert ctx.steps == ["Collecting documents", "Indexing", "Swapping index", "Indexing"]
    assert ctx.resumed


def test_admin_list_and_details_show_a_paused_job(
    app: Flask, jobs: Any, client: Any, auth: Any, make_job: Any, probe: Any
) -> None:
    from jobs_admin.runner import SHUTDOWN, run_job

    with app.app_context():
        job_id = make_job("running", "test.slow_cancellable", steps=10)

        def paused(ctx_id: int, ctx: Any) -> None:
            if ctx is not None:
                ctx.request_stop(SHUTDOWN)

        assert run_job(jobs.runtime(app), job_id, "ghost:1:test", paused) == "pending"
        assert probe.job(job_id)["phase"] == "Paused"
    auth.login("admin")
    listing = client.get("/admin/jobs/").get_data(as_text=True)
    assert 'jobs-admin-paused" title=' in listing and ">Paused</span>" in listing
    details = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert "jobs-admin-paused" in details
    assert "paused: ghost:1:test shut down" in details
