"""The demo host: login, the demo job types, the completion-mail receiver, ``flask demo``."""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import websocket
from flask import Flask
from flask.testing import FlaskClient

from host_app import ROOT, InsecureSecretKey, create_app
from host_app.auth import DEMO_USERS, ensure_demo_users, load_user
from host_app.extensions import db, jobs
from host_app.models import Product, User
from tests.live_client import WS, LiveServer, free_port, login_cookie
from tests.support import csrf_token, login, logout

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


def flashed(html: str) -> list[str]:
    """The texts of the alerts on a login or sign-out page."""
    return re.findall(r'role="alert">([^<]*)</div>', html)


@pytest.mark.parametrize("username", DEMO_USERS)
def test_login_demo_user_reaches_admin_index(client: FlaskClient, username: str) -> None:
    response = login(client, username)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"<strong>{username}</strong>" in html
    assert "/admin/jobs/" in html
    assert 'action="/logout"' in html


def test_login_wrong_password_is_refused(client: FlaskClient) -> None:
    response = login(client, "admin", "nope")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert flashed(html) == ["Unknown user or wrong password."]
    assert 'value="admin"' in html  # the user name is kept for the next try
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


def test_login_without_a_valid_csrf_token_signs_nobody_in(app: Flask, client: FlaskClient) -> None:
    foreign = csrf_token(app.test_client())  # a real token, of another session
    own = csrf_token(client)
    for token in (None, "", "garbage", own[:-1] + ("0" if own[-1] != "0" else "1"), foreign):
        data = {"username": "admin", "password": "admin"}
        if token is not None:
            data["csrf_token"] = token
        response = client.post("/login", data=data)
        assert response.status_code == 400, token
        messages = flashed(response.get_data(as_text=True))
        assert any("CSRF" in m and "not signed in" in m for m in messages), (token, messages)
        with client.session_transaction() as session:
            assert "_user_id" not in session
        assert client.get("/admin/jobs/").status_code == 302
    # The same post with the session's own token works: the refusals were about the token.
    response = client.post(
        "/login", data={"username": "admin", "password": "admin", "csrf_token": own}
    )
    assert response.status_code == 302
    assert client.get("/admin/jobs/").status_code == 200


def test_login_does_not_echo_a_long_user_name(client: FlaskClient) -> None:
    name = "A" * 5000
    response = client.post(
        "/login", data={"username": name, "password": "x", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "A" * 81 not in html
    assert flashed(html) == ["Enter a user name (at most 80 characters) and a password."]
    assert 'name="csrf_token"' in html  # the form is shown again, ready for the next try


@pytest.mark.parametrize("backend", ["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def test_login_refuses_a_nul_in_the_user_name(backend: str, request: pytest.FixtureRequest) -> None:
    """PostgreSQL's text cannot hold a NUL: the form refuses it (it was a 500 there)."""
    client = request.getfixturevalue(backend).test_client()
    response = client.post(
        "/login",
        data={"username": "admin\x00", "password": "admin", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert flashed(html) == ["Enter a user name (at most 80 characters) and a password."]
    assert client.get("/admin/jobs/").status_code == 302  # nobody signed in


def test_login_starts_a_new_csrf_secret(app: Flask, client: FlaskClient) -> None:
    """A CSRF secret planted in the session before the login (fixation) is gone after it."""
    with app.app_context():
        job_id = int(jobs.enqueue("search.reindex", items=1, commit=True).id)
    planted = csrf_token(client)
    with client.session_transaction() as session:
        secret_before = session["csrf"]
    login(client, "admin")
    with client.session_transaction() as session:
        assert session.get("csrf") != secret_before
    # The token from before the login works neither for the jobs nor for the host's own forms.
    client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": planted})
    with app.app_context():
        assert jobs.get(job_id).status == "pending"
    assert client.post("/logout", data={"csrf_token": planted}).status_code == 400
    assert client.get("/admin/jobs/").status_code == 200  # still signed in
    client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(client)})
    with app.app_context():
        assert jobs.get(job_id).status == "cancelled"


def test_logout_ends_the_session(client: FlaskClient) -> None:
    login(client, "viewer")
    response = logout(client)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert client.get("/admin/").status_code == 302
    assert flashed(client.get("/login").get_data(as_text=True)) == [
        "You are signed out, in every browser."
    ]


def test_logout_is_a_post_with_the_csrf_token(client: FlaskClient) -> None:
    login(client, "viewer")
    # A GET (a link, an <img> on another site) only asks.
    page = client.get("/logout")
    assert page.status_code == 200
    assert 'method="post"' in page.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200
    for data in ({}, {"csrf_token": "garbage"}):
        response = client.post("/logout", data=data)
        assert response.status_code == 400
        messages = flashed(response.get_data(as_text=True))
        assert len(messages) == 1 and "still signed in" in messages[0], messages
        assert client.get("/admin/").status_code == 200
    assert logout(client).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_every_admin_page_signs_out_by_a_post_form(client: FlaskClient) -> None:
    login(client, "admin")
    for url in ("/admin/", "/admin/jobs/", "/admin/jobs/new", "/admin/product/"):
        html = client.get(url).get_data(as_text=True)
        assert 'href="/logout"' not in html, url
        form = re.search(r'<form method="post" action="/logout"[^>]*>(.*?)</form>', html, re.S)
        assert form, url
        assert re.search(r'name="csrf_token" value="[^"]+"', form[1]), url
    # The navbar's token signs out.
    html = client.get("/admin/jobs/").get_data(as_text=True)
    token = re.search(r'id="shop-sign-out">\s*<input[^>]*value="([^"]+)"', html)
    assert token
    assert client.post("/logout", data={"csrf_token": token[1]}).status_code == 302
    assert client.get("/admin/jobs/").status_code == 302


def test_a_cookie_copied_before_logout_stops_working(app: Flask, client: FlaskClient) -> None:
    login(client, "viewer")
    other_browser = app.test_client()
    login(other_browser, "viewer")
    copied = client.get_cookie("session")
    assert copied is not None
    assert logout(client).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", copied.value)
    response = replay.get("/admin/jobs/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    # Signing out ends the user's sessions everywhere, not only in this browser.
    assert other_browser.get("/admin/jobs/").status_code == 302
    # The live feed's handshake refuses the old cookie too.
    server = LiveServer(app)
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            WS(server.ws_url, f"session={copied.value}").close()
        assert refused.value.status_code == 401
        # Signing in again gives a cookie that works.
        fresh = login_cookie(app, "viewer")
        ws = WS(server.ws_url, fresh)
        assert ws.recv()["type"] == "snapshot"
        ws.close()
    finally:
        server.stop()


def test_load_user_wants_the_current_session_version(app: Flask) -> None:
    viewer = db.session.scalar(sa.select(User).filter_by(username="viewer"))
    assert viewer.get_id() == f"{viewer.id}:0"
    assert load_user(f"{viewer.id}:0") is viewer
    for stale in (str(viewer.id), f"{viewer.id}:1", f"{viewer.id}:", "x:0", "", "9" * 40 + ":0"):
        assert load_user(stale) is None, stale
    viewer.session_version = 1
    db.session.commit()
    assert load_user(f"{viewer.id}:0") is None
    assert load_user(f"{viewer.id}:1") is viewer


def test_a_post_over_the_size_limit_is_refused_and_starts_nothing(
    app: Flask, client: FlaskClient
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    login(client, "operator")
    token = csrf_token(client)
    big = "x" * (2 * 1024 * 1024)
    response = client.post(
        "/admin/jobs/new?type=catalog.export",
        data={"csrf_token": token, "definition": big, "skus": "TS-001"},
    )
    assert response.status_code == 413
    assert big[:1000] not in response.get_data(as_text=True)
    assert jobs.counts()["total"] == 0
    # A normal post still starts the job.
    response = client.post(
        "/admin/jobs/new?type=catalog.export",
        data={"csrf_token": token, "definition": "spring", "skus": "TS-001"},
    )
    assert response.status_code == 302
    assert jobs.counts()["total"] == 1


# -- the secret key --------------------------------------------------------------------------


@pytest.fixture
def no_flask_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``FLASK_*`` variable of the environment reaches the app (a developer's shell may set
    ``FLASK_DEBUG`` or a key)."""
    for name in list(os.environ):
        if name.startswith("FLASK_"):
            monkeypatch.delenv(name)


def production_config(tmp_path: Path, **config: Any) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.db'}",
        "JOBS_ADMIN_WORKER": "off",
        "JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
        **config,
    }


def shop_env_secret_key() -> str:
    """The ``FLASK_SECRET_KEY`` that ``docs/deploy/shop.env`` ships with."""
    text = (ROOT / "docs" / "deploy" / "shop.env").read_text()
    match = re.search(r"^FLASK_SECRET_KEY=(.*)$", text, re.M)
    assert match
    return match[1]


@pytest.mark.usefixtures("no_flask_env")
@pytest.mark.parametrize("key", [None, "", "dev-only-change-me", "shop.env"])
def test_create_app_refuses_a_missing_or_public_secret_key(tmp_path: Path, key: str | None) -> None:
    config = production_config(tmp_path)
    if key is not None:
        config["SECRET_KEY"] = shop_env_secret_key() if key == "shop.env" else key
    with pytest.raises(InsecureSecretKey) as refused:
        create_app(config)
    message = str(refused.value)
    assert "FLASK_SECRET_KEY" in message
    assert "secrets.token_hex" in message


@pytest.mark.usefixtures("no_flask_env")
def test_create_app_takes_a_secret_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "k" * 64)
    app = create_app(production_config(tmp_path))
    assert app.secret_key == "k" * 64
    assert not app.debug and not app.testing


@pytest.mark.usefixtures("no_flask_env")
def test_create_app_in_debug_without_a_key_gets_a_random_one(tmp_path: Path) -> None:
    keys = {create_app(production_config(tmp_path, DEBUG=True)).secret_key for _ in range(2)}
    assert len(keys) == 2
    assert all(isinstance(k, str) and len(k) == 64 for k in keys)


@pytest.mark.usefixtures("no_flask_env")
def test_create_app_makes_and_then_reuses_the_secret_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret_key"
    path.parent.mkdir()
    first = create_app(production_config(tmp_path, SECRET_KEY_FILE=str(path)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret_key) == 64  # type: ignore[arg-type]
    assert path.read_text().strip() == first.secret_key
    again = create_app(production_config(tmp_path, SECRET_KEY_FILE=str(path)))
    assert again.secret_key == first.secret_key
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no spare file left
    path.write_text("\n")
    with pytest.raises(InsecureSecretKey, match="is empty"):
        create_app(production_config(tmp_path, SECRET_KEY_FILE=str(path)))


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


def test_catalog_export_error_cuts_a_long_sku(app: Flask) -> None:
    from jobs_admin import InvalidParams

    with pytest.raises(InvalidParams) as refused:
        jobs.enqueue("catalog.export", definition="spring", skus=["Z" * 10000, "TS-001"])
    message = str(refused.value)
    assert "not a SKU: " + "Z" * 40 + "…" in message
    assert "Z" * 41 not in message


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


def test_demo_seeded_running_jobs_are_requeued_by_the_rescue_and_run(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed", "--count", "80", "--random-seed", "5"])
    j = jobs.Job
    running = list(db.session.scalars(sa.select(j.id).where(j.status == "running")))
    assert running
    # As the rescue finds them a minute later: their gone worker's heartbeat is stale.
    db.session.execute(
        sa.update(j)
        .where(j.id.in_(running))
        .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
    )
    db.session.commit()
    with db.engine.begin() as conn:
        requeued, failed = jobs.store.rescue(conn, 60)
    assert sorted(requeued) == sorted(running) and failed == []
    jobs.work_off()
    db.session.expire_all()
    statuses = set(db.session.scalars(sa.select(j.status).where(j.id.in_(running))))
    assert statuses <= {"completed", "partial"}


def test_catalog_export_previews_its_catalog_and_links_its_requester(app: Flask) -> None:
    job = run("catalog.export", definition="spring", skus=["TS-001", "X-404"])
    client = app.test_client()
    login(client, "admin")
    with client.get(f"/admin/jobs/{job.id}/preview", follow_redirects=True) as page:
        html = page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"] == "sandbox"
    assert "<h1>Spring catalog</h1>" in html and "TS-001" in html
    detail = client.get(f"/admin/jobs/details/?id={job.id}").get_data(as_text=True)
    assert "View HTML" in detail
    assert 'href="/admin/user/?search=operator"' in detail and "Profile of operator" in detail
    items = jobs.store.item_page(db.session.connection(), job.id, job.attempts)
    assert [(r.key, r.outcome) for r in items.rows] == [("TS-001", "ok"), ("X-404", "failed")]


def test_products_import_records_every_row_and_links_its_products(app: Flask) -> None:
    job = jobs.enqueue(
        "products.import", rows=12, invalid_every=5, supplier="Acme", created_by="admin"
    )
    jobs.db.session.commit()
    jobs.work_off()
    job = jobs.get(job.id)
    items = jobs.store.item_page(db.session.connection(), job.id, job.attempts).rows
    assert len(items) == 12
    assert {r.key for r in items if r.outcome == "failed"} == {"line 5", "line 10"}
    assert all(r.message.startswith("created ACME-") for r in items if r.outcome == "ok")
    client = app.test_client()
    login(client, "admin")
    detail = client.get(f"/admin/jobs/details/?id={job.id}").get_data(as_text=True)
    assert 'href="/admin/product/?search=ACME"' in detail and "Products ACME-*" in detail


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    """A real SMTP server (aiosmtpd) on a free local port; yields (port, received messages)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Keep(Message):  # type: ignore[misc]
        def handle_message(self, message: Any) -> None:
            received.append(message)

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_job_finished_mail_goes_through_a_real_smtp_server(
    make_app: Any, smtp_server: tuple[int, list[Any]]
) -> None:
    port, received = smtp_server
    app = make_app(
        DEMO_MAIL_SERVER="127.0.0.1",
        DEMO_MAIL_PORT=port,
        DEMO_BASE_URL="https://shop.example/",
    )
    with app.app_context():
        ok = run("search.reindex", items=1)
        ok_id, ok_name = ok.id, ok.name
        error = run("reports.broken").error
    assert len(received) == 2
    first, second = received
    assert first["To"] == "operator@shop.example" and first["From"] == "jobs@shop.example"
    assert first["Subject"] == f"Job #{ok_id} {ok_name}: completed"
    body = first.get_payload()
    assert f"https://shop.example/admin/jobs/details/?id={ok_id}" in body
    assert "Duration: " in body and "Error" not in body
    assert second["Subject"].endswith(": failed")
    assert "Error:" in second.get_payload() and error.splitlines()[0] in second.get_payload()


def test_job_finished_mail_to_a_server_that_is_down_leaves_the_job_alone(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DEMO_MAIL_SERVER="127.0.0.1", DEMO_MAIL_PORT=free_port())  # nobody listens
    with app.app_context():
        job = run("search.reindex", items=1)
    assert job.status == "completed"
    assert f"could not mail the creator of job {job.id}" in caplog.text
