"""The demo host: login, the demo job types, the completion-mail receiver, ``flask demo``."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from host_app import create_app
from host_app.auth import DEMO_USERS, ensure_demo_users
from host_app.extensions import db, jobs
from host_app.models import Product, User

ALL_STATUSES = {"pending", "running", "completed", "partial", "failed", "cancelled"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 't.db'}",
            "JOBS_ADMIN_WORKER": "off",
            "JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
            "DEMO_JOB_DELAY": 0,
        }
    )
    with app.app_context():
        db.create_all()
        ensure_demo_users()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def run(job_type: str, **params: Any) -> Any:
    """Enqueue one job as ``operator``, run every due job, and return it reloaded."""
    job = jobs.enqueue(job_type, created_by="operator", commit=True, **params)
    jobs.work_off()
    return jobs.get(job.id)


def events(job: Any, kind: str) -> list[Any]:
    e = jobs.JobEvent
    stmt = sa.select(e).where(e.job_id == job.id, e.kind == kind).order_by(e.id)
    return list(db.session.scalars(stmt))


# -- login ---------------------------------------------------------------------------------


@pytest.mark.parametrize("username", DEMO_USERS)
def test_login_demo_user_reaches_admin_index(client: FlaskClient, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": username})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"<strong>{username}</strong>" in html
    assert "/admin/jobs/" in html
    assert "/logout" in html


def test_login_wrong_password_is_refused(client: FlaskClient) -> None:
    response = client.post("/login", data={"username": "admin", "password": "nope"})
    assert response.status_code == 401
    assert "Unknown user or wrong password." in response.get_data(as_text=True)
    # Not logged in: the admin sends the visitor back to the login page.
    page = client.get("/admin/")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]


def test_login_page_uses_bundled_bootstrap_and_lists_demo_logins(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert "bootstrap/bootstrap4/css/bootstrap.min.css" in html
    assert "//cdn" not in html
    for name in DEMO_USERS:
        assert f"<code>{name}</code> / <code>{name}</code>" in html
    with client.get("/admin/static/bootstrap/bootstrap4/css/bootstrap.min.css") as css:
        assert css.status_code == 200


def test_logout_ends_the_session(client: FlaskClient) -> None:
    client.post("/login", data={"username": "viewer", "password": "viewer"})
    assert client.get("/logout").status_code == 302
    assert client.get("/admin/").status_code == 302


# -- demo job types ------------------------------------------------------------------------


def test_demo_job_types_are_all_registered() -> None:
    names = {t.name for t in jobs.registry}
    assert {
        "catalog.export",
        "products.import",
        "search.reindex",
        "reports.flaky",
        "reports.broken",
    } <= names
    assert jobs.registry.get("search.reindex").timeout == 600
    assert jobs.registry.get("reports.flaky").max_attempts == 3


def test_catalog_export_ends_partial_with_failed_skus_and_a_zip(app: Flask) -> None:
    job = run("catalog.export", definition="spring", skus=["TS-001", "X-404", "MUG-002", "X-9"])
    assert job.status == "partial"
    assert (job.progress_total, job.progress_done, job.progress_failed) == (4, 2, 2)
    assert [e.data["key"] for e in events(job, "item_failed")] == ["X-404", "X-9"]
    assert [e.message for e in events(job, "step")] == [
        "Resolving images",
        "Building pages",
        "Zipping",
    ]
    assert job.result == {
        "definition": "spring",
        "skus": 2,
        "pages": 1,
        "bytes": job.result["bytes"],
    }
    path = jobs.settings().results_dir / job.result_file
    assert path.name == "catalog.zip"
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        page = archive.read("index.html").decode()
    assert "<h1>Spring catalog</h1>" in page
    assert "TS-001" in page
    assert "X-404" not in page


def test_catalog_export_accepts_the_run_forms_comma_separated_skus(app: Flask) -> None:
    job = jobs.enqueue("catalog.export", definition="summer", skus="TS-001, HD-002\nMUG-003")
    assert job.params == {"definition": "summer", "skus": ["TS-001", "HD-002", "MUG-003"]}


def test_catalog_export_refuses_a_malformed_sku(app: Flask) -> None:
    from jobs_admin import InvalidParams

    with pytest.raises(InvalidParams):
        jobs.enqueue("catalog.export", definition="spring", skus=["TS 001; drop"])


def test_catalog_export_retry_failed_items_reruns_only_them(app: Flask) -> None:
    job = run("catalog.export", definition="spring", skus=["TS-001", "X-404"])
    again = jobs.retry_failed_items(job.id)
    assert again.params == {"definition": "spring", "skus": ["X-404"]}
    assert again.retry_of == job.id


def test_products_import_writes_products_and_ends_partial(app: Flask) -> None:
    job = run("products.import", rows=20, invalid_every=5, supplier="Globex")
    assert job.status == "partial"
    assert (job.progress_done, job.progress_failed) == (16, 4)
    assert [e.data["key"] for e in events(job, "item_failed")] == [
        "line 5",
        "line 10",
        "line 15",
        "line 20",
    ]
    assert job.result == {"created": 16, "updated": 0, "rejected": 4}
    skus = set(db.session.scalars(sa.select(Product.sku).where(Product.sku.like("GLOBEX-%"))))
    assert len(skus) == 16
    assert "GLOBEX-00005" not in skus


def test_products_import_updates_existing_products(app: Flask) -> None:
    run("products.import", rows=3, invalid_every=0)
    job = run("products.import", rows=4, invalid_every=0)
    assert job.status == "completed"
    assert job.result == {"created": 1, "updated": 3, "rejected": 0}


def test_search_reindex_completes_and_cancels_while_pending(app: Flask) -> None:
    job = run("search.reindex", items=7)
    assert job.status == "completed"
    assert job.progress_done == 7
    assert job.result == {"documents": 7}
    pending = jobs.enqueue("search.reindex", items=7, commit=True)
    assert jobs.cancel(pending.id).status == "cancelled"


def test_search_reindex_stops_at_check_cancelled(app: Flask) -> None:
    from jobs_admin import JobCancelled
    from jobs_admin.context import JobContext

    ctx = JobContext(
        job_id=1,
        job_type="search.reindex",
        params={"items": 5},
        attempt=1,
        max_attempts=1,
        progress_total=None,
        progress_done=0,
        progress_failed=0,
        results_dir=Path("unused"),
        timeout=None,
        flush=lambda values, events: True,
        progress_interval=0,
    )
    ctx.request_stop("cancelled")
    with pytest.raises(JobCancelled):
        jobs.registry.get("search.reindex").func(ctx, items=5)
    assert ctx.done == 0


def test_flaky_report_is_retried_after_its_backoff_and_completes(app: Flask) -> None:
    job = run("reports.flaky", month="2026-09")
    assert job.status == "pending"
    assert job.attempts == 1
    assert job.error == "ConnectionError: warehouse API timed out after 30 s"
    assert job.run_at > datetime.now(UTC)
    assert jobs.work_off() == 0  # not due before its backoff
    # Skip the 2 s backoff rather than sleep through it.
    db.session.execute(
        sa.update(jobs.Job).where(jobs.Job.id == job.id).values(run_at=job.created_at)
    )
    db.session.commit()
    assert jobs.work_off() == 1
    job = jobs.get(job.id)
    assert job.status == "completed"
    assert job.attempts == 2
    assert job.result == {"month": "2026-09", "attempt": 2, "rows": 2}
    assert (jobs.settings().results_dir / job.result_file).read_text().startswith("day,orders")


def test_broken_report_fails_with_a_multi_frame_traceback(app: Flask) -> None:
    job = run("reports.broken")
    assert job.status == "failed"
    assert job.error == "ValueError: not an amount: '12,5O'"
    frames = [line for line in job.traceback.splitlines() if line.lstrip().startswith("File ")]
    assert len(frames) >= 4
    for helper in ("broken_report", "_build_vat_report", "_aggregate", "_parse_amount"):
        assert f"in {helper}" in job.traceback


def test_job_finished_mails_the_creator(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=app.logger.name)
    job = run("search.reindex", items=1)
    assert f"mail to operator <operator@shop.example>: Job #{job.id}" in caplog.text
    assert "completed" in caplog.text


def test_job_finished_without_a_known_creator_sends_nothing(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=app.logger.name)
    jobs.enqueue("search.reindex", items=1, created_by="cli", commit=True)
    jobs.enqueue("search.reindex", items=1, commit=True)
    assert jobs.work_off() == 2
    assert "mail to" not in caplog.text


# -- flask demo ----------------------------------------------------------------------------


def test_demo_init_is_idempotent(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "init"])
    assert first.exit_code == 0, first.output
    assert "36 product(s) added" in first.output
    second = runner.invoke(args=["demo", "init"])
    assert second.exit_code == 0, second.output
    assert "0 product(s) added" in second.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Product)) == 36


def test_demo_seed_fills_every_status_with_exact_counters(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["demo", "seed", "--count", "120", "--days", "30", "--random-seed", "7"]
    )
    assert result.exit_code == 0, result.output
    j = jobs.Job
    rows = db.session.execute(sa.select(j.status, sa.func.count()).group_by(j.status)).all()
    by_status = {status: n for status, n in rows}
    assert set(by_status) == ALL_STATUSES
    assert sum(by_status.values()) == 120
    assert jobs.counts() == {**by_status, "total": 120}
    for user in ("admin", "operator", "viewer"):
        n = db.session.scalar(sa.select(sa.func.count()).where(j.created_by == user))
        who = db.session.scalar(sa.select(User).filter_by(username=user))
        assert jobs.counts(user=who)["total"] == n
    assert "seeded 120 job(s)" in result.output


def test_demo_seed_history_is_realistic(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed", "--count", "200", "--random-seed", "1"])
    j = jobs.Job
    now = datetime.now(UTC)
    all_jobs = list(db.session.scalars(sa.select(j)))
    assert {job.created_by for job in all_jobs} == {"admin", "operator", "viewer"}
    assert all(job.created_at <= now for job in all_jobs)
    assert max((now - job.created_at).days for job in all_jobs) >= 40  # spread over 60 days
    for job in all_jobs:
        if job.status in ("completed", "partial", "failed", "cancelled"):
            assert job.finished_at is not None and job.finished_at <= now
        if job.status == "partial":
            assert job.progress_failed > 0
            assert len(events(job, "item_failed")) == job.progress_failed
        if job.status == "failed":
            assert job.error
        if job.status == "running":
            assert job.worker and job.heartbeat_at is not None
        assert events(job, "status")[0].message == "enqueued"
    assert any(job.traceback and job.traceback.count('File "') >= 3 for job in all_jobs)
    assert any(job.reference and job.reference.startswith("PO-") for job in all_jobs)


def test_demo_seed_if_empty_leaves_a_filled_table_alone(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed", "--count", "10"])
    again = runner.invoke(args=["demo", "seed", "--count", "10", "--if-empty"])
    assert again.exit_code == 0
    assert "not seeding" in again.output
    assert jobs.counts()["total"] == 10


def test_demo_seeded_pending_jobs_run_for_real(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed", "--count", "80", "--random-seed", "5"])
    due = db.session.scalar(
        sa.select(sa.func.count()).where(
            jobs.Job.status == "pending", jobs.Job.run_at <= datetime.now(UTC)
        )
    )
    assert due
    assert jobs.work_off() >= due
    j = jobs.Job
    rows = db.session.execute(sa.select(j.status, sa.func.count()).group_by(j.status)).all()
    expected = dict.fromkeys(ALL_STATUSES, 0) | {status: n for status, n in rows}
    assert jobs.counts() == {**expected, "total": 80}
