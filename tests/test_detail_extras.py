"""The detail page's extras: step states and estimates, the sandboxed HTML preview and the
job type's reference links."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin.admin import _links, _steps
from jobs_admin.admin.format import about
from jobs_admin.models import EventKind
from tests.support import login

BACKENDS = ["app", pytest.param("pg_app", marks=pytest.mark.postgres)]


def _add(jobs: Any, job_type: str, by: str = "admin", **params: Any) -> int:
    return int(jobs.enqueue(job_type, created_by=by, commit=True, params=params).id)


def _client(app: Flask, user: str = "admin") -> Any:
    client = app.test_client()
    login(client, user)
    return client


def _get(client: Any, url: str) -> Any:
    """GET ``url`` and close the response (a served file is closed with it)."""
    with client.get(url) as response:
        response.get_data()
    return response


def _shift_steps(jobs: Any, job_id: int, seconds: list[float]) -> None:
    """Space the job's step events ``seconds`` apart and end the job after the last one."""
    e, j = jobs.models.JobEvent, jobs.models.Job
    session = jobs.db.session
    job = session.get(j, job_id)
    events = list(
        session.scalars(
            sa.select(e).where(e.job_id == job_id, e.kind == EventKind.STEP.value).order_by(e.id)
        )
    )
    at = job.finished_at - timedelta(seconds=sum(seconds))
    for ev, length in zip(events, seconds, strict=True):
        ev.at = at
        at += timedelta(seconds=length)
    session.commit()


# -- steps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_estimates_are_the_median_of_recent_completed_runs(
    backend: str, request: Any, jobs: Any
) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        for first, second in ((10, 100), (20, 200), (90, 300)):
            job_id = _add(jobs, "test.record", count=4)
            jobs.work_off()
            _shift_steps(jobs, job_id, [first, second])
        medians, plan = _steps.estimates(jobs, "test.record")
    assert medians == {"First half": 20, "Second half": 200}
    assert plan == ["First half", "Second half"]


def test_last_step_state_follows_how_the_job_ended() -> None:
    class Job:
        error: str | None = None
        status = "running"

    job = Job()
    for status, state in (
        ("running", "running"),
        ("failed", "failed"),
        ("cancelled", "stopped"),
        ("completed", "done"),
        ("partial", "done"),
        ("pending", "waiting"),
    ):
        job.status = status
        assert _steps.last_state(job) == state
    job.status, job.error = "pending", "boom"  # waiting for its automatic retry
    assert _steps.last_state(job) == "failed"


def test_detail_page_says_step_n_of_m_and_marks_unreached_steps_not_run(
    app: Flask, jobs: Any
) -> None:
    with app.app_context():
        _add(jobs, "test.record", count=4)
        jobs.work_off()
        # A later run that got through its first step only, then failed.
        failed = _add(jobs, "test.record", count=4)
        jobs.work_off()
        j, e = jobs.models.Job, jobs.models.JobEvent
        session = jobs.db.session
        session.execute(
            sa.delete(e).where(e.job_id == failed, e.kind == "step", e.message == "Second half")
        )
        session.execute(sa.update(j).where(j.id == failed).values(status="failed", error="boom"))
        session.commit()
    html = _client(app).get(f"/admin/jobs/details/?id={failed}").get_data(as_text=True)
    assert "Step 1 of 2" in html
    assert 'data-state="failed"' in html and 'data-state="not_run"' in html
    assert "fa-check text-success" not in html.split("jobs-admin-steps", 1)[1].split("</ol>")[0]
    assert "about " in html  # the completed run gave both steps an estimate


def test_running_step_has_a_countdown_and_expands_to_its_log_and_items(
    app: Flask, jobs: Any
) -> None:
    with app.app_context():
        _add(jobs, "test.record", count=6)
        jobs.work_off()
        job_id = _add(jobs, "test.record", count=6, fail_every=4)
        jobs.work_off()
        session = jobs.db.session
        j = jobs.models.Job
        session.execute(sa.update(j).where(j.id == job_id).values(status="running"))
        session.commit()
    html = _client(app).get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert 'class="d-block text-primary jobs-admin-countdown" data-ends-at="' in html
    step_two = html.split('id="jobs-admin-step-2"', 1)[1].split("</li>", 1)[0]
    assert "starting Second half" in step_two
    assert "items-3" in step_two and "items-4" in step_two and "items-2" not in step_two


def test_about_rounds_estimates() -> None:
    assert [about(v) for v in (0.2, 4.6, 119, 3600, 5400)] == [
        "under 1 s",
        "5 s",
        "2 min",
        "1 h",
        "1 h 30 min",
    ]


# -- the HTML preview ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_preview_serves_an_html_result_sandboxed(backend: str, request: Any, jobs: Any) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        job_id = _add(jobs, "test.html_result", html="<p>hi</p><script>alert(1)</script>")
        jobs.work_off()
    client = _client(app)
    response = _get(client, f"/admin/jobs/{job_id}/preview")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    assert b"<p>hi</p>" in response.data
    detail = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert f'href="/admin/jobs/{job_id}/preview"' in detail


def test_preview_of_a_zip_opens_the_page_the_type_names(app: Flask, jobs: Any) -> None:
    with app.app_context():
        job_id = _add(jobs, "test.html_result", html="<link href=style.css>", zipped=True)
        jobs.work_off()
    client = _client(app)
    response = client.get(f"/admin/jobs/{job_id}/preview")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/jobs/{job_id}/preview/site/index.html")
    page = client.get(f"/admin/jobs/{job_id}/preview/site/index.html")
    assert page.headers["Content-Security-Policy"] == "sandbox"
    assert page.mimetype == "text/html" and page.data == b"<link href=style.css>"
    css = client.get(f"/admin/jobs/{job_id}/preview/site/style.css")
    assert css.mimetype == "text/css" and css.headers["X-Content-Type-Options"] == "nosniff"
    missing = client.get(f"/admin/jobs/{job_id}/preview/../../etc/passwd")
    assert missing.status_code == 404


def test_preview_refuses_what_is_not_html_and_other_users_jobs(app: Flask, jobs: Any) -> None:
    with app.app_context():
        text = _add(jobs, "test.result_file", filename="report.txt")
        theirs = _add(jobs, "test.html_result", by="admin")
        mine = _add(jobs, "test.html_result", by="viewer")
        jobs.work_off()
    viewer = _client(app, "viewer")
    assert _get(viewer, f"/admin/jobs/{mine}/preview").status_code == 200
    refused = viewer.get(f"/admin/jobs/{theirs}/preview")
    assert refused.status_code == 302 and b"hi" not in refused.data
    admin = _client(app)
    assert admin.get(f"/admin/jobs/{text}/preview").status_code == 302


def test_preview_refuses_an_oversized_zip_member(
    app: Flask, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs_admin.admin import _preview

    with app.app_context():
        job_id = _add(jobs, "test.html_result", html="x" * 100, zipped=True)
        jobs.work_off()
        assert zipfile.is_zipfile(jobs.settings().results_dir / jobs.get(job_id).result_file)
    monkeypatch.setattr(_preview, "MAX_MEMBER_BYTES", 50)
    response = _client(app).get(f"/admin/jobs/{job_id}/preview/site/index.html")
    assert response.status_code == 404


# -- reference links -------------------------------------------------------------------------


def test_links_show_http_and_relative_urls_escaped_and_drop_others(app: Flask, jobs: Any) -> None:
    with app.app_context():
        job_id = _add(jobs, "test.record", count=2)
        jobs.work_off()
    html = _client(app).get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert 'href="https://example.com/report?id=1&amp;x=&lt;b&gt;"' in html
    assert 'href="/admin/"' in html
    assert "javascript:alert" not in html


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://a.example/x", True),
        ("http://a.example", True),
        ("/admin/product/?id=3", True),
        ("details?id=4", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,x", False),
        ("java\nscript:alert(1)", False),
        ("/\\evil.example", False),
        ("https:evil", False),
        ("", False),
    ],
)
def test_safe_url_allows_http_and_relative_only(url: str, ok: bool) -> None:
    assert _links.safe_url(url) is ok


def test_a_failing_links_hook_shows_no_links(app: Flask, jobs: Any) -> None:
    class Kind:
        name = "x"

        @staticmethod
        def links(job: Any) -> list[tuple[str, str]]:
            raise RuntimeError("hook broke")

    class Job:
        id = 1

    assert _links.job_links(Kind(), Job()) == []
