"""Running one job (through work_off): JobContext, results, errors, retries, timeouts, signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import JobContext, signals
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
