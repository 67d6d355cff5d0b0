"""The run form's job options: name, reference, priority and a later "run at" in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from jobs_admin.models import utcnow
from tests.support import csrf_token, login


def _post(app: Flask, **fields: str) -> tuple[Any, str]:
    client = app.test_client()
    login(client, "operator")
    data = {"csrf_token": csrf_token(client), "count": "2", "label": "rows", **fields}
    response = client.post("/admin/jobs/new?type=test.items", data=data)
    return response, response.get_data(as_text=True)


def _only_job(app: Flask, jobs: Any) -> Any:
    with app.app_context():
        return jobs.db.session.scalars(jobs.db.select(jobs.Job)).one_or_none()


def test_run_form_offers_the_job_options_and_a_script_free_type_picker(app: Flask) -> None:
    client = app.test_client()
    login(client, "operator")
    html = client.get("/admin/jobs/new?type=test.items").get_data(as_text=True)
    for name in ("job-name", "job-reference", "job-priority", "job-run_at", "job-timezone"):
        assert f'name="{name}"' in html
    assert 'type="datetime-local"' in html
    assert 'id="jobs-admin-choose"' in html  # the no-script fallback stays in the page
    assert "jobs_admin_run.js" in html
    assert 'placeholder="Test: items"' in html


@pytest.mark.parametrize("backend", ["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def test_run_form_starts_a_named_referenced_prioritised_job_later(
    backend: str, request: Any, jobs: Any
) -> None:
    app = request.getfixturevalue(backend)
    later = datetime.now(ZoneInfo("Europe/Paris")).replace(second=0, microsecond=0)
    later += timedelta(days=2)
    response, _html = _post(
        app,
        **{
            "job-name": "Nightly rows",
            "job-reference": "PO-77",
            "job-priority": "5",
            "job-run_at": later.strftime("%Y-%m-%dT%H:%M"),
            "job-timezone": "Europe/Paris",
        },
    )
    assert response.status_code == 302
    job = _only_job(app, jobs)
    assert (job.name, job.reference, job.priority) == ("Nightly rows", "PO-77", 5)
    assert job.run_at == later.astimezone(UTC)
    assert job.params == {"count": 2, "fail_every": None, "label": "rows"}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"job-run_at": "2001-01-01T10:00"}, "must be a time to come"),
        ({"job-run_at": "2999-01-01T10:00"}, "must be within a year"),
        ({"job-run_at": "tomorrow"}, "Not a valid datetime value"),
        ({"job-run_at": "2030-01-01T10:00", "job-timezone": "Mars/Base"}, "not a time zone"),
        ({"job-priority": "1000"}, "Number must be between -100 and 100"),
        ({"job-name": "x" * 201}, "Field cannot be longer than 200 characters"),
    ],
)
def test_run_form_refuses_bad_options_and_starts_nothing(
    app: Flask, jobs: Any, fields: dict[str, str], error: str
) -> None:
    response, html = _post(app, **fields)
    assert response.status_code == 200 and error in html
    assert _only_job(app, jobs) is None


def test_run_form_without_options_runs_now_under_the_types_title(app: Flask, jobs: Any) -> None:
    response, _html = _post(app)
    assert response.status_code == 302
    job = _only_job(app, jobs)
    assert job.name == "Test: items" and job.reference is None and job.priority == 0
    assert job.run_at <= utcnow()
