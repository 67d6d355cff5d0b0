"""Running one job (through work_off): JobContext, results, errors, retries, timeouts, signals."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import JobContext, signals
from jobs_admin.runner import SHUTDOWN
from tests import support
from tests.support import Probe


def make_due(probe: Probe, job_id: int) -> None:
    """Skip a retry's backoff: make the pending job due now."""
    probe.update(job_id, run_at=datetime.now(UTC) - timedelta(seconds=1))


def test_runner_items_job_ends_partial_with_progress_events_and_result(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.items", count=10, fail_every=4, label="sku", commit=True)
    assert jobs.work_off() == 1
    row = probe.job(job.id)
    assert row["status"] == "partial"
    assert row["progress_total"] == 10
    assert row["progress_done"] == 7
    assert row["progress_failed"] == 3
    assert row["result"] == {"count": 10, "done": 7, "failed": 3}
    assert row["message"] == "7 done, 3 failed"
    assert row["phase"] is None  # cleared at the end
    assert row["attempts"] == 1 and row["worker"].endswith(":work_off")
    assert row["started_at"] <= row["finished_at"]
    assert row["error"] is None and row["traceback"] is None
    failed = probe.events(job.id, kind="item_failed")
    assert [e["data"] for e in failed] == [{"key": f"sku-{i}", "attempt": 1} for i in (0, 4, 8)]
    assert {(e["message"], e["level"]) for e in failed} == {("bad item", "warning")}
    assert [(e["message"], e["level"]) for e in probe.events(job.id, kind="log")] == [
        ("counted 10 sku", "info"),
        ("careful", "warning"),
    ]
    assert [e["message"] for e in probe.events(job.id, kind="step")] == ["Counting"]
    status = [e["data"]["status"] for e in probe.events(job.id, kind="status")]
    assert status == ["pending", "running", "partial"]
    assert jobs.counts()["partial"] == 1 == probe.group_by_status()["partial"]


def test_runner_items_job_without_failures_completes(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.items", count="3", commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert (row["status"], row["progress_done"], row["progress_failed"]) == ("completed", 3, 0)
    assert row["result"] == {"count": 3, "done": 3, "failed": 0}
    assert probe.events(job.id, kind="status")[-1]["message"] == "completed"


def test_context_step_sets_the_phase_and_records_a_step(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.steps", commit=True)
    jobs.work_off()
    # While it ran, the database said what it was doing after each step.
    assert support.PROBES[job.id] == ["Loading", "Writing"]
    assert [e["message"] for e in probe.events(job.id, kind="step")] == ["Loading", "Writing"]
    row = probe.job(job.id)
    assert row["status"] == "completed" and row["phase"] is None


def test_context_result_file_is_under_the_results_dir(
    app: Flask, jobs: Any, probe: Probe, tmp_path: Path
) -> None:
    results = jobs.settings().results_dir
    assert results == tmp_path / "results"
    ids = {
        name: jobs.enqueue("test.result_file", filename=name, commit=True).id
        for name in ("report.csv", "../../x", "/etc/passwd", "..", "a/../../b.txt")
    }
    assert jobs.work_off() == len(ids)
    for name, job_id in ids.items():
        row = probe.job(job_id)
        assert row["status"] == "completed", (name, row["error"])
        stored = row["result_file"]
        assert stored.startswith(f"{job_id}/")
        path = (results / stored).resolve()
        assert path.is_relative_to(results.resolve()), (name, path)
        assert path.read_text() == f"job {job_id}\n"
        assert Path(row["result"]["path"]).resolve() == path
    assert probe.job(ids["report.csv"])["result_file"] == f"{ids['report.csv']}/report.csv"
    assert probe.job(ids["../../x"])["result_file"] == f"{ids['../../x']}/x"
    assert not (tmp_path / "x").exists() and not (results.parent.parent / "x").exists()


def test_runner_return_value_is_stored_as_json(app: Flask, jobs: Any, probe: Probe) -> None:
    when = datetime(2026, 5, 1, tzinfo=UTC)
    job = jobs.enqueue("test.echo", a=1, b=[1, "two"], c={"d": None}, when=when, commit=True)
    none = jobs.enqueue("test.noop", commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "completed"
    assert row["result"] == {"a": 1, "b": [1, "two"], "c": {"d": None}, "when": when.isoformat()}
    assert probe.job(none.id)["result"] is None


def test_runner_job_uses_db_session_committed_after_the_job(
    app: Flask, jobs: Any, db: Any, probe: Probe
) -> None:
    from host_app.models import User

    job = jobs.enqueue("test.session", username="viewer", email="new@shop.example", commit=True)
    jobs.work_off()
    assert probe.status(job.id) == "completed"
    with db.engine.connect() as conn:
        email = conn.execute(
            sa.select(User.__table__.c.email).where(User.__table__.c.username == "viewer")
        ).scalar()
    assert email == "new@shop.example"


def test_runner_exception_stores_error_and_full_traceback(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.fail_once", commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: no luck"
    assert row["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("no luck")' in row["traceback"]
    assert "conftest.py" in row["traceback"]
    assert row["finished_at"] is not None and row["phase"] is None
    last = probe.events(job.id, kind="status")[-1]
    assert (last["level"], last["message"]) == ("error", "failed: ValueError: no luck")
    assert jobs.counts()["failed"] == 1 == probe.group_by_status()["failed"]


def test_runner_retries_with_backoff_up_to_max_attempts(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.fail", message="down", commit=True)  # 3 attempts, backoff 10 s
    for attempt, delay in ((1, 10), (2, 20)):
        before = datetime.now(UTC)
        assert jobs.work_off() == 1
        row = probe.job(job.id)
        assert row["status"] == "pending"
        assert row["attempts"] == attempt and row["max_attempts"] == 3
        assert row["error"] == "RuntimeError: down"
        assert "RuntimeError: down" in row["traceback"]
        assert row["worker"] is None and row["finished_at"] is None
        # Not due yet: backoff * 2 ** (attempt - 1) seconds from now.
        wait = (row["run_at"] - before).total_seconds()
        assert delay <= wait <= delay + 5, (attempt, wait)
        assert jobs.work_off() == 0
        event = probe.events(job.id, kind="status")[-1]
        assert event["message"].startswith(f"attempt {attempt} of 3 failed: RuntimeError: down")
        assert event["message"].endswith(f"retrying in {delay} s")
        assert jobs.counts()["pending"] == 1 and jobs.counts()["running"] == 0
        make_due(probe, job.id)
    assert jobs.work_off() == 1
    row = probe.job(job.id)
    assert row["status"] == "failed" and row["attempts"] == 3
    assert row["finished_at"] is not None
    starts = [e for e in probe.events(job.id, kind="status") if e["data"]["status"] == "running"]
    assert [e["data"]["attempt"] for e in starts] == [1, 2, 3]
    assert jobs.counts() == probe.group_by_status()


def test_runner_flaky_job_succeeds_on_its_second_attempt(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.flaky", commit=True)
    jobs.work_off()
    assert probe.status(job.id) == "pending"
    make_due(probe, job.id)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "completed"
    assert row["attempts"] == 2
    assert row["result"] == {"attempt": 2}


def test_runner_cancel_requested_during_a_failing_attempt_is_not_retried(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    name = "test.cancel_then_fail"
    if name not in jobs.registry:

        @jobs.job_type(name, max_attempts=3)
        def cancel_then_fail(ctx: JobContext) -> None:
            from flask import current_app

            current_app.extensions["jobs_admin"].cancel(ctx.job_id)  # an admin clicks cancel
            raise RuntimeError("failed anyway")

    job = jobs.enqueue(name, commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "cancelled"
    assert row["attempts"] == 1
    assert row["error"] == "RuntimeError: failed anyway"
    assert row["finished_at"] is not None
    last = probe.events(job.id, kind="status")[-1]
    assert last["data"] == {"status": "cancelled"}
    assert jobs.counts() == probe.group_by_status()


def test_runner_timeout_fails_the_job(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.timeout", commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "failed"
    assert row["error"] == "timed out after 0.3 s"
    assert row["attempts"] == 1
    assert probe.events(job.id, kind="status")[-1]["message"] == "failed: timed out after 0.3 s"


def test_runner_timeout_is_retried_when_attempts_remain(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.timeout_retry", commit=True)  # 2 attempts, backoff 30 s
    before = datetime.now(UTC)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "pending"
    assert row["error"] == "timed out after 0.3 s"
    assert 30 <= (row["run_at"] - before).total_seconds() <= 35
    make_due(probe, job.id)
    jobs.work_off()
    row = probe.job(job.id)
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 2, "timed out after 0.3 s")


def test_runner_result_that_is_not_json_fails_the_job(app: Flask, jobs: Any, probe: Probe) -> None:
    name = "test.bad_result"
    if name not in jobs.registry:

        @jobs.job_type(name)
        def bad_result(ctx: JobContext) -> Any:
            return {"n": float("nan")}

    job = jobs.enqueue(name, commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "failed"
    assert "not JSON" in row["error"]


def test_runner_job_of_an_unregistered_type_fails(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.noop", commit=True)
    with jobs.db.engine.begin() as conn:
        conn.execute(
            sa.update(jobs.store.jobs).where(jobs.store.jobs.c.id == job.id).values(type="gone.x")
        )
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "failed"
    assert row["error"] == "unknown job type 'gone.x'"


@pytest.mark.app_config(JOBS_ADMIN_PROGRESS_INTERVAL=0.5)
def test_context_progress_writes_are_throttled(
    app: Flask, jobs: Any, db: Any, probe: Probe
) -> None:
    job = jobs.enqueue("test.advance_many", n=100_000, commit=True)
    updates: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE JOBS_ADMIN_JOB "):
            updates.append(statement)

    # The claim and progress go through jobs_admin's own connections, the end through the host's.
    engines = {db.engine, jobs.connections().engine}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", count)
    try:
        jobs.work_off()
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", count)
    row = probe.job(job.id)
    assert row["status"] == "completed"
    assert row["progress_done"] == 100_000 and row["progress_total"] == 100_000
    assert 2 <= len(updates) < 200  # at least the claim and the end; far fewer than 100,000


def test_context_progress_is_written_while_running(
    app: Flask, jobs: Any, db: Any, probe: Probe
) -> None:
    # With JOBS_ADMIN_PROGRESS_INTERVAL = 0 every advance is visible to other connections.
    name = "test.progress_probe"
    if name not in jobs.registry:

        @jobs.job_type(name)
        def progress_probe(ctx: JobContext) -> list[int]:
            seen = []
            ctx.set_total(3)
            for _ in range(3):
                ctx.advance()
                seen.append(Probe().job(ctx.job_id)["progress_done"])
            return seen

    job = jobs.enqueue(name, commit=True)
    jobs.work_off()
    assert probe.job(job.id)["result"] == [1, 2, 3]


def test_context_basics() -> None:
    writes: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    ctx = JobContext(
        job_id=7,
        job_type="t",
        params={},
        attempt=1,
        max_attempts=1,
        progress_total=None,
        progress_done=0,
        progress_failed=0,
        results_dir=Path("/nonexistent"),
        timeout=None,
        flush=lambda values, events: writes.append((values, events)) or True,
        progress_interval=3600,
    )
    ctx.flush()
    assert writes == []  # nothing to write
    ctx.advance()  # throttled: buffered until the interval passes or a flush
    ctx.advance(4)
    ctx.message("hello")
    assert writes == []
    ctx.flush()
    assert writes == [({"progress_done": 5, "message": "hello"}, [])]
    ctx.step("Two")  # a step is written at once
    assert writes[-1] == (
        {"phase": "Two"},
        [{"kind": "step", "message": "Two", "data": {"attempt": ctx.attempt}}],
    )
    with pytest.raises(ValueError):
        ctx.log("x", level="loud")
    with pytest.raises(ValueError):
        ctx.set_total(-1)
    assert not ctx.cancelled
    ctx.check_cancelled()
    ctx.request_stop("cancelled")
    assert ctx.cancelled and ctx.stop_reason == "cancelled"
    from jobs_admin import JobCancelled

    with pytest.raises(JobCancelled):
        ctx.check_cancelled()


# -- signals ---------------------------------------------------------------------------------


class Recorder:
    """Connects to every jobs_admin signal and records (signal, sender, kwargs) with a copy."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self._receivers: list[Any] = []

    def connect(self) -> Recorder:
        for name in ("job_enqueued", "job_started", "job_finished", "job_deleted", "jobs_pruned"):
            signal = getattr(signals, name)

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                job = kwargs.get("job")
                seen = dict(kwargs)
                if job is not None:  # read what a receiver would read, right now
                    seen["job"] = {"id": job.id, "type": job.type, "status": job.status}
                self.calls.append((_name, sender, seen))

            signal.connect(receiver)
            self._receivers.append((signal, receiver))
        return self

    def disconnect(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, _s, kw in self.calls if n == name]


@pytest.fixture
def recorder() -> Any:
    rec = Recorder().connect()
    yield rec
    rec.disconnect()


def test_signals_fire_with_the_right_arguments(
    app: Flask, jobs: Any, probe: Probe, recorder: Recorder
) -> None:
    ok = jobs.enqueue("test.noop", commit=True)
    bad = jobs.enqueue("test.fail_once", commit=True)
    ok_id, bad_id = ok.id, bad.id
    assert recorder.of("job_enqueued") == [
        {"job": {"id": ok_id, "type": "test.noop", "status": "pending"}},
        {"job": {"id": bad_id, "type": "test.fail_once", "status": "pending"}},
    ]
    jobs.work_off()
    assert recorder.of("job_started") == [
        {"job": {"id": ok_id, "type": "test.noop", "status": "running"}},
        {"job": {"id": bad_id, "type": "test.fail_once", "status": "running"}},
    ]
    assert recorder.of("job_finished") == [
        {"job": {"id": ok_id, "type": "test.noop", "status": "completed"}},
        {"job": {"id": bad_id, "type": "test.fail_once", "status": "failed"}},
    ]
    pending = jobs.enqueue("test.noop", commit=True).id
    jobs.cancel(pending)
    assert recorder.of("job_finished")[-1] == {
        "job": {"id": pending, "type": "test.noop", "status": "cancelled"}
    }
    jobs.delete(ok_id)
    assert recorder.of("job_deleted") == [
        {"job": {"id": ok_id, "type": "test.noop", "status": "completed"}}
    ]
    assert probe.job(ok_id) is None
    probe.update(bad_id, finished_at=datetime.now(UTC) - timedelta(days=40))
    assert jobs.prune() == 1
    assert recorder.of("jobs_pruned") == [{"count": 1}]
    assert all(sender is app for _n, sender, _kw in recorder.calls)


def test_signals_a_retried_attempt_is_not_finished(
    app: Flask, jobs: Any, recorder: Recorder
) -> None:
    jobs.enqueue("test.flaky", commit=True)
    jobs.work_off()
    assert len(recorder.of("job_started")) == 1
    assert recorder.of("job_finished") == []


# -- a job that raises a BaseException ---------------------------------------------------------


class Abort(BaseException):
    """A custom ``BaseException`` a job (or a library it calls) may raise."""


def _raise_exit(ctx: JobContext) -> None:
    raise SystemExit(3)


def _raise_interrupt(ctx: JobContext) -> None:
    raise KeyboardInterrupt


def _raise_custom(ctx: JobContext) -> None:
    raise Abort("pulled the plug")


#: (job type, the function, the error the job must end with).
BASE_EXCEPTIONS = {
    "test.system_exit": (_raise_exit, "SystemExit: 3"),
    "test.keyboard_interrupt": (_raise_interrupt, "KeyboardInterrupt"),
    "test.custom_base_exception": (_raise_custom, "Abort: pulled the plug"),
}


def _register_base_exceptions(jobs: Any) -> None:
    for name, (func, _error) in BASE_EXCEPTIONS.items():
        if name not in jobs.registry:
            jobs.job_type(name)(func)


def _assert_failed_with_traceback(probe: Probe, job_id: int, error: str) -> None:
    row = probe.job(job_id)
    assert row["status"] == "failed", row
    assert row["error"] == error
    assert row["traceback"].startswith("Traceback (most recent call last):")
    assert "test_runner.py" in row["traceback"]
    assert row["worker"] is not None and row["finished_at"] is not None
    assert row["phase"] is None
    last = probe.events(job_id, kind="status")[-1]
    assert last["data"] == {"status": "failed"} and last["level"] == "error"


@pytest.mark.parametrize("name", sorted(BASE_EXCEPTIONS))
def test_runner_base_exception_fails_the_job_at_once_with_its_traceback(
    name: str, app: Flask, jobs: Any, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    _register_base_exceptions(jobs)
    func, error = BASE_EXCEPTIONS[name]
    job = jobs.enqueue(name, commit=True)
    after = jobs.enqueue("test.noop", commit=True)
    # In the main thread these two may be the process's own exit or Ctrl-C: recorded, then
    # passed on, so that a script running work_off stops.
    passed_on = {_raise_exit: SystemExit, _raise_interrupt: KeyboardInterrupt}
    expected = passed_on.get(func)
    if expected is None:
        assert jobs.work_off(limit=1) == 1
    else:
        with pytest.raises(expected):
            jobs.work_off(limit=1)
    _assert_failed_with_traceback(probe, job.id, error)
    assert jobs.counts() == probe.group_by_status()
    assert any(
        r.name == "jobs_admin.runner" and r.levelname == "ERROR" and r.exc_info
        for r in caplog.records
    ), caplog.records
    # Nothing of it is left to a rescue: the next job runs as usual.
    assert jobs.work_off() == 1
    assert probe.status(after.id) == "completed"


def test_worker_thread_survives_a_job_raising_base_exceptions(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    _register_base_exceptions(jobs)
    worker = jobs.start_worker(concurrency=1)
    ids = {name: jobs.enqueue(name, commit=True).id for name in sorted(BASE_EXCEPTIONS)}
    for name, job_id in ids.items():
        wait_for(lambda job_id=job_id: probe.status(job_id) == "failed", timeout=10)
        _assert_failed_with_traceback(probe, job_id, BASE_EXCEPTIONS[name][1])
    # The one job thread is still there and runs the next job.
    after = jobs.enqueue("test.items", count=2, commit=True)
    wait_for(lambda: probe.status(after.id) == "completed", timeout=10)
    wait_for(lambda: worker.running_ids() == [])
    assert jobs.counts() == probe.group_by_status()


# -- a job that swallows its stop ------------------------------------------------------------


def _swallow(ctx: JobContext, how: str) -> str:
    """Told to stop by ``check_cancelled``, catch the stop the way ``how`` says, then go on."""
    try:
        ctx.check_cancelled()
    except Exception:  # meant for one item's errors: must not catch the stop
        return "swallowed by except Exception"
    except BaseException:
        if how == "raise":
            raise RuntimeError("cleanup failed") from None
        return "swallowed by except BaseException"
    return "never told to stop"


def _cancelled_swallower(ctx: JobContext, how: str) -> str:
    from flask import current_app

    current_app.extensions["jobs_admin"].cancel(ctx.job_id)  # an admin clicks cancel
    ctx.request_stop("cancelled")  # the worker's heartbeat tells the job
    return _swallow(ctx, how)


def _timed_out_swallower(ctx: JobContext, how: str) -> str:
    while not ctx.cancelled:
        time.sleep(0.01)
    return _swallow(ctx, how)


def _shutdown_swallower(ctx: JobContext, how: str) -> str:
    ctx.request_stop(SHUTDOWN)  # the worker is stopping
    return _swallow(ctx, how)


@pytest.mark.parametrize("how", ["return", "raise"])
def test_runner_a_swallowed_cancel_still_cancels(
    how: str, app: Flask, jobs: Any, probe: Probe
) -> None:
    if "test.swallow_cancel" not in jobs.registry:
        jobs.job_type("test.swallow_cancel", max_attempts=3)(_cancelled_swallower)
    job = jobs.enqueue("test.swallow_cancel", how=how, commit=True)
    assert jobs.work_off() == 1
    row = probe.job(job.id)
    assert (row["status"], row["result"], row["attempts"]) == ("cancelled", None, 1)
    assert row["message"] == "cancelled"
    assert probe.events(job.id, kind="status")[-1]["data"] == {"status": "cancelled"}
    assert jobs.counts() == probe.group_by_status()


@pytest.mark.parametrize("how", ["return", "raise"])
def test_runner_a_swallowed_timeout_still_times_out(
    how: str, app: Flask, jobs: Any, probe: Probe
) -> None:
    if "test.swallow_timeout" not in jobs.registry:
        jobs.job_type("test.swallow_timeout", timeout=0.2)(_timed_out_swallower)
    job = jobs.enqueue("test.swallow_timeout", how=how, commit=True)
    assert jobs.work_off() == 1
    row = probe.job(job.id)
    assert (row["status"], row["result"]) == ("failed", None)
    assert row["error"] == "timed out after 0.2 s"


def test_runner_a_swallowed_shutdown_still_hands_the_job_back(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    if "test.swallow_shutdown" not in jobs.registry:
        jobs.job_type("test.swallow_shutdown")(_shutdown_swallower)
    job = jobs.enqueue("test.swallow_shutdown", how="return", commit=True)
    assert jobs.work_off(limit=1) == 1
    row = probe.job(job.id)
    assert (row["status"], row["result"], row["attempts"], row["worker"]) == (
        "pending",
        None,
        0,
        None,
    )


def test_context_stop_is_not_an_exception() -> None:
    from jobs_admin import JobCancelled

    assert issubclass(JobCancelled, BaseException)
    assert not issubclass(JobCancelled, Exception)


# -- the log cap -----------------------------------------------------------------------------


def _chatty(ctx: JobContext, lines: int) -> None:
    for i in range(lines):
        ctx.log(f"line {i}")


@pytest.mark.app_config(JOBS_ADMIN_MAX_LOG_LINES=50)
def test_context_log_keeps_the_cap_and_says_how_many_lines_it_dropped(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    if "test.chatty" not in jobs.registry:
        jobs.job_type("test.chatty")(_chatty)
    over = jobs.enqueue("test.chatty", lines=550, commit=True)
    at_cap = jobs.enqueue("test.chatty", lines=50, commit=True)
    one_over = jobs.enqueue("test.chatty", lines=51, commit=True)
    assert jobs.work_off() == 3
    logs = probe.events(over.id, kind="log")
    assert [e["message"] for e in logs[:-1]] == [f"line {i}" for i in range(50)]
    assert len(logs) == 51
    assert logs[-1]["level"] == "warning"
    assert logs[-1]["message"] == (
        "500 more lines dropped: a job keeps at most 50 log lines (JOBS_ADMIN_MAX_LOG_LINES)"
    )
    assert probe.status(over.id) == "completed"
    # Exactly at the cap nothing is dropped, so nothing is said.
    assert [e["message"] for e in probe.events(at_cap.id, kind="log")] == [
        f"line {i}" for i in range(50)
    ]
    assert probe.events(one_over.id, kind="log")[-1]["message"].startswith("1 more line dropped:")


def _chatty_then_fail(ctx: JobContext, lines: int) -> None:
    for i in range(lines):
        ctx.log(f"run {ctx.attempt} line {i}")
    raise RuntimeError("again")


@pytest.mark.app_config(JOBS_ADMIN_MAX_LOG_LINES=50)
def test_context_log_cap_counts_the_lines_of_earlier_runs(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    name = "test.chatty_retried"
    if name not in jobs.registry:
        jobs.job_type(name, max_attempts=2, retry_backoff=0)(_chatty_then_fail)
    job = jobs.enqueue(name, lines=30, commit=True)
    jobs.work_off()
    jobs.work_off()
    assert probe.job(job.id)["attempts"] == 2 and probe.status(job.id) == "failed"
    logs = [e["message"] for e in probe.events(job.id, kind="log")]
    assert logs[:30] == [f"run 1 line {i}" for i in range(30)]
    assert logs[30:50] == [f"run 2 line {i}" for i in range(20)]
    assert logs[50:] == [
        "10 more lines dropped: a job keeps at most 50 log lines (JOBS_ADMIN_MAX_LOG_LINES)"
    ]


@pytest.mark.app_config(JOBS_ADMIN_MAX_LOG_LINES=5)
def test_context_log_cap_line_is_written_when_the_job_fails(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    name = "test.chatty_failure"
    if name not in jobs.registry:

        @jobs.job_type(name)
        def chatty_failure(ctx: JobContext) -> None:
            _chatty(ctx, 8)
            raise RuntimeError("after the chatter")

    job = jobs.enqueue(name, commit=True)
    jobs.work_off()
    assert probe.status(job.id) == "failed"
    logs = [e["message"] for e in probe.events(job.id, kind="log")]
    assert logs[:5] == [f"line {i}" for i in range(5)]
    assert len(logs) == 6 and logs[5].startswith("3 more lines dropped:")


def test_config_max_log_lines_default_and_bad_values() -> None:
    from jobs_admin.config import read_settings

    assert read_settings({}, "/instance").max_log_lines == 10000
    assert read_settings({"JOBS_ADMIN_MAX_LOG_LINES": "20"}, "/i").max_log_lines == 20
    for bad in (0, -1):
        with pytest.raises(ValueError, match="JOBS_ADMIN_MAX_LOG_LINES must be at least 1"):
            read_settings({"JOBS_ADMIN_MAX_LOG_LINES": bad}, "/instance")


def _context(flush: Any, **options: Any) -> JobContext:
    return JobContext(
        job_id=7,
        job_type="t",
        params={},
        attempt=1,
        max_attempts=1,
        progress_total=None,
        progress_done=0,
        progress_failed=0,
        results_dir=Path("/nonexistent"),
        timeout=None,
        flush=flush,
        progress_interval=3600,
        **options,
    )


def test_context_log_buffer_is_bounded_while_the_database_is_busy() -> None:
    from jobs_admin.context import PENDING_LOG_LINES

    busy = [True]
    written: list[dict[str, Any]] = []

    def flush(values: dict[str, Any], events: list[dict[str, Any]]) -> bool | None:
        if busy[0]:
            return None  # SQLite locked: the context keeps the lines for the next flush
        written.extend(events)
        return True

    calls = 300_000
    ctx = _context(flush, max_log_lines=10 * calls)  # far above: only the buffer bounds it
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(calls):
            ctx.log(f"line {i} " + "x" * 100)
            if i % 20_000 == 0:
                ctx.flush()  # finds the database busy and puts the lines back
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Unbounded, 300,000 lines of ~110 characters held over 100 MB.
    assert grown < 2_000_000, grown
    assert ctx.dropped_log_lines == calls - PENDING_LOG_LINES
    busy[0] = False
    ctx.flush()  # the database is free again: the buffer empties, and logging goes on
    ctx.log("after the lock")
    ctx.close_log()
    ctx.flush()
    messages = [e["message"] for e in written]
    assert len(messages) == PENDING_LOG_LINES + 2
    assert messages[:3] == [f"line {i} " + "x" * 100 for i in range(3)]
    assert messages[-2] == "after the lock"
    assert messages[-1].startswith(f"{calls - PENDING_LOG_LINES} more lines dropped:")


def _odd_result_file(ctx: JobContext, codes: list[int]) -> None:
    """Asks for a result file named with the characters ``codes`` (a name it made up itself)."""
    ctx.result_file("a" + "".join(map(chr, codes)) + "b.csv").write_text("x")


@pytest.mark.parametrize(
    ("codes", "shown"),
    [([13, 10], "U+000D"), ([10], "U+000A"), ([0], "U+0000"), ([0x2028], "U+2028")],
    ids=["crlf", "lf", "nul", "line-separator"],
)
def test_context_result_file_name_with_a_control_character_fails_the_job_clearly(
    codes: list[int], shown: str, app: Flask, jobs: Any, probe: Probe
) -> None:
    if "test.odd_result_file" not in jobs.registry:
        jobs.job_type("test.odd_result_file")(_odd_result_file)
    job = jobs.enqueue("test.odd_result_file", codes=codes, commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    assert row["status"] == "failed"
    assert row["error"] == (
        f"InvalidArgument: the result file name contains the control character {shown};"
        " choose a name without line breaks or other control characters"
    )
    assert row["result_file"] is None
    assert not (jobs.settings().results_dir / str(job.id)).exists()


# -- what a job writes that the database cannot store ---------------------------------------


def _nul_writer(ctx: JobContext, end: str) -> Any:
    ctx.step("step\x00one")
    ctx.log("line\x00with a NUL and half a pair \ud800")
    ctx.message("msg\x00")
    ctx.item_failed("key\x00", "why\x00")
    if end == "raise":
        raise ValueError("bad\x00value")
    if end == "result":
        return {"rows": ["ok", "cell\x00"]}
    return {"ok": True}


def _check_nul_output(jobs: Any, probe: Probe) -> None:
    if "test.nul_writer" not in jobs.registry:
        jobs.job_type("test.nul_writer")(_nul_writer)
    ids = {
        end: jobs.enqueue("test.nul_writer", end=end, commit=True).id
        for end in ("raise", "result", "none")
    }
    assert jobs.work_off() == 3
    raised, result, fine = (probe.job(ids[end]) for end in ("raise", "result", "none"))
    assert (raised["status"], raised["error"]) == ("failed", "ValueError: bad\ufffdvalue")
    assert "\x00" not in raised["traceback"]
    assert result["status"] == "failed" and result["result"] is None
    assert result["error"] == (
        'the job\'s result contains NUL (U+0000) at ["rows"][1], which the database cannot store'
    )
    assert (fine["status"], fine["result"], fine["message"]) == (
        "partial",
        {"ok": True},
        "msg\ufffd",
    )
    logs = [e["message"] for e in probe.events(fine["id"], kind="log")]
    assert logs == ["line\ufffdwith a NUL and half a pair \ufffd"]
    (failed,) = probe.events(fine["id"], kind="item_failed")
    assert (failed["message"], failed["data"]["key"]) == ("why\ufffd", "key\ufffd")
    assert [e["message"] for e in probe.events(fine["id"], kind="step")] == ["step\ufffdone"]
    assert jobs.counts() == probe.group_by_status()


def test_runner_stores_what_a_job_writes_with_a_nul_marked_or_refused(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    _check_nul_output(jobs, probe)


@pytest.mark.postgres
def test_runner_stores_what_a_job_writes_with_a_nul_on_postgresql(
    pg_app: Flask, jobs: Any, probe: Probe
) -> None:
    with pg_app.app_context():
        _check_nul_output(jobs, probe)


@pytest.mark.postgres
def test_worker_group_commit_survives_a_result_postgresql_cannot_store(
    pg_app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    if "test.nul_result" not in jobs.registry:
        jobs.job_type("test.nul_result")(lambda ctx: {"rows": ["cell\x00"]})
    with pg_app.app_context():
        jobs.start_worker()
        bad = jobs.enqueue("test.nul_result", commit=True)
        others = [jobs.enqueue("test.noop", commit=True) for _ in range(5)]
        wait_for(lambda: probe.status(bad.id) == "failed", timeout=10)
        for job in others:
            wait_for(lambda job=job: probe.status(job.id) == "completed", timeout=10)


_SEEN: list[tuple[int, bool, int]] = []


def _records_its_session(ctx: JobContext) -> None:
    from host_app.extensions import db as host_db

    session = host_db.session()
    _SEEN.append((ctx.attempt, session.in_transaction(), host_db.engine.pool.checkedout()))
    raise RuntimeError("again")


@pytest.mark.parametrize("backend", ["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def test_runner_a_retry_starts_without_a_transaction_or_a_connection(
    backend: str, request: pytest.FixtureRequest, jobs: Any
) -> None:
    """A retry counts the earlier runs' log lines (the log cap) on a connection of its own:
    the job's session starts empty, as a first run's does, and holds no connection."""
    app = request.getfixturevalue(backend)
    name = "test.records_session"
    if name not in jobs.registry:
        jobs.job_type(name, max_attempts=2, retry_backoff=0)(_records_its_session)
    _SEEN.clear()
    with app.app_context():
        jobs.enqueue(name, commit=True)
        jobs.work_off()
        jobs.work_off()
    assert [attempt for attempt, _, _ in _SEEN] == [1, 2]
    assert _SEEN[0][1:] == _SEEN[1][1:] == (False, 0), _SEEN
