"""Unique job types: one queued job per key, enforced by the database's partial unique index."""

from __future__ import annotations

import html as html_lib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import tests.unique_app  # noqa: F401  (registers test.unique and test.unique_profile)
from jobs_admin.errors import DuplicateJob
from tests.support import csrf_token, login

ROOT = Path(__file__).resolve().parent.parent


def _rows(jobs: Any, type_: str) -> list[tuple[int, str]]:
    j = jobs.Job
    stmt = sa.select(j.id, j.status).where(j.type == type_).order_by(j.id)
    return [(int(i), s) for i, s in jobs.db.session.execute(stmt)]


def test_unique_enqueue_of_a_duplicate_returns_the_queued_job(app: Flask, jobs: Any) -> None:
    with app.app_context():
        first = jobs.enqueue("test.unique", params={"customer": 1}, commit=True)
        assert first.duplicate is False
        first_id = first.id
        jobs.db.session.expunge_all()  # another request's session
        again = jobs.enqueue("test.unique", params={"customer": 1}, commit=True)
        other = jobs.enqueue("test.unique", params={"customer": 2}, commit=True)
        assert other.duplicate is False
        assert again.id == first_id and again.duplicate is True
        assert _rows(jobs, "test.unique") == [(first_id, "pending"), (other.id, "pending")]
        assert jobs.counts()["pending"] == 2


def test_unique_enqueue_raises_on_duplicate_when_asked(app: Flask, jobs: Any) -> None:
    with app.app_context():
        first = jobs.enqueue("test.unique", params={"customer": 1}, commit=True)
        with pytest.raises(DuplicateJob) as caught:
            jobs.enqueue("test.unique", params={"customer": 1}, on_duplicate="raise")
        assert caught.value.job_id == first.id
        jobs.db.session.rollback()
        assert _rows(jobs, "test.unique") == [(first.id, "pending")]


def test_unique_key_function_and_pending_only_hold(app: Flask, jobs: Any) -> None:
    with app.app_context():
        first = jobs.enqueue("test.unique_profile", profile_id=7, note="a", commit=True)
        same = jobs.enqueue("test.unique_profile", profile_id=7, note="b", commit=True)
        assert same.id == first.id and same.duplicate
        # Claimed (running): a pending-only key is let go, so a new job may queue.
        with jobs.db.engine.begin() as conn:
            assert jobs.store.claim(conn, "ghost:1:test", 10) == [first.id]
        jobs.db.session.expire_all()
        second = jobs.enqueue("test.unique_profile", profile_id=7, commit=True)
        assert second.id != first.id and not second.duplicate
        assert jobs.enqueue("test.unique_profile", profile_id=7, commit=True).id == second.id


def test_unique_running_job_blocks_a_duplicate(app: Flask, jobs: Any) -> None:
    with app.app_context():
        first = jobs.enqueue("test.unique", params={"k": 1}, commit=True)
        with jobs.db.engine.begin() as conn:
            assert jobs.store.claim(conn, "ghost:1:test", 10) == [first.id]
        jobs.db.session.expire_all()
        again = jobs.enqueue("test.unique", params={"k": 1}, commit=True)
        assert again.id == first.id and again.duplicate
        assert _rows(jobs, "test.unique") == [(first.id, "running")]


def test_unique_finished_job_frees_its_key_and_its_retry_is_refused_while_taken(
    app: Flask, jobs: Any
) -> None:
    with app.app_context():
        failed = jobs.enqueue("test.unique", params={"fail": True}, commit=True)
        assert jobs.work_off(limit=1) == 1
        assert jobs.get(failed.id).status == "failed"
        queued = jobs.enqueue("test.unique", params={"fail": True}, commit=True)
        assert queued.id != failed.id and not queued.duplicate
        with pytest.raises(DuplicateJob) as caught:
            jobs.retry(failed.id)
        assert caught.value.job_id == queued.id
        jobs.db.session.expire_all()
        assert jobs.get(failed.id).status == "failed"
        jobs.cancel(queued.id)
        assert jobs.retry(failed.id).status == "pending"


def test_unique_run_form_says_already_queued_with_a_link(app: Flask, jobs: Any) -> None:
    client = app.test_client()
    login(client, "operator")
    first = client.post("/admin/jobs/new?type=test.unique", data={"csrf_token": csrf_token(client)})
    assert first.status_code == 302
    second = client.post(
        "/admin/jobs/new?type=test.unique",
        data={"csrf_token": csrf_token(client)},
        follow_redirects=True,
    )
    html = html_lib.unescape(second.get_data(as_text=True))
    with app.app_context():
        rows = _rows(jobs, "test.unique")
    assert len(rows) == 1
    job_id = rows[0][0]
    assert f'already queued: <a href="/admin/jobs/details/?id={job_id}">#{job_id}</a>' in html


def test_unique_job_type_options_are_checked(jobs: Any) -> None:
    with pytest.raises(ValueError, match="unique_while"):
        jobs.job_type("test.bad_unique", unique=True, unique_while=("running",))
    with pytest.raises(ValueError, match="unique_while"):
        jobs.job_type("test.bad_unique", unique=True, unique_while="pending")
    assert "test.bad_unique" not in jobs.registry


def test_unique_eight_processes_enqueueing_at_once_get_one_job(app: Flask, jobs: Any) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    start = time.time() + 6  # after every process has imported the app
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(ROOT)])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.unique_app", url, str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(8)
    ]
    answers = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        answers.append(json.loads(out.decode().strip().splitlines()[-1]))
    with app.app_context():
        rows = _rows(jobs, "test.unique")
        assert len(rows) == 1
        assert {a["id"] for a in answers} == {rows[0][0]}
        assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
        assert jobs.counts()["pending"] == 1


def test_unique_enqueue_with_flash_says_already_queued(app: Flask, jobs: Any) -> None:
    from flask import get_flashed_messages

    with app.test_request_context("/"):
        first = jobs.enqueue("test.unique", name="Once", params={"k": 1}, commit=True, flash=True)
        jobs.db.session.expunge_all()
        again = jobs.enqueue("test.unique", params={"k": 1}, commit=True, flash=True)
        assert again.id == first.id
        url = f"/admin/jobs/details/?id={first.id}"
        assert get_flashed_messages(with_categories=True) == [
            ("success", f'Started job <a href="{url}">#{first.id} Once</a>.'),
            ("warning", f'Not started: already queued: job <a href="{url}">#{first.id} Once</a>.'),
        ]


def test_unique_retry_of_failed_items_refuses_a_taken_key(app: Flask, jobs: Any) -> None:
    with app.app_context():
        partial = jobs.enqueue("test.unique_items", count=4, fail_every=2, commit=True)
        assert jobs.work_off(limit=1) == 1 and jobs.get(partial.id).status == "partial"
        rerun = jobs.retry_failed_items(partial.id)
        assert not rerun.duplicate and rerun.retry_of == partial.id
        with pytest.raises(DuplicateJob) as caught:
            jobs.retry_failed_items(partial.id)
        assert caught.value.job_id == rerun.id
        jobs.db.session.rollback()
        assert [i for i, _s in _rows(jobs, "test.unique_items")] == [partial.id, rerun.id]
