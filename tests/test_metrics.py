"""``<jobs url>/metrics``: Prometheus text format, parsed with prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Probe

URL = "/admin/jobs/metrics"
TOKEN = "s3cret-scrape-token"
ON = pytest.mark.app_config(JOBS_ADMIN_METRICS=True, JOBS_ADMIN_METRICS_TOKEN=TOKEN)


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in family.samples
        if name is None or s.name == name
    }


@ON
def test_metrics_parse_and_hold_the_counters(
    app: Flask, client: Any, jobs: Any, probe: Probe, make_job: Any
) -> None:
    for status in ("completed", "completed", "failed", "partial", "cancelled", "pending"):
        make_job(status)
    make_job("running")
    for row in probe.jobs(status="pending"):
        probe.update(row["id"], run_at=datetime.now(UTC) - timedelta(minutes=5))
    # A job due later does not count as waiting.
    later = make_job("pending")
    probe.update(later, run_at=datetime.now(UTC) + timedelta(hours=5))
    response = client.get(URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    got = families(response.get_data(as_text=True))
    counts = jobs.counts()
    assert samples(got["jobs_admin_jobs"]) == {
        (("status", s),): float(counts[s]) for s in counts if s != "total"
    }
    finished = samples(got["jobs_admin_jobs_finished"], "jobs_admin_jobs_finished_total")
    assert finished[(("status", "completed"), ("type", "test.noop"))] == 2.0
    assert finished[(("status", "failed"), ("type", "test.fail_once"))] == 1.0
    assert finished[(("status", "partial"), ("type", "test.items"))] == 1.0
    assert finished[(("status", "cancelled"), ("type", "test.noop"))] == 1.0
    run = got["jobs_admin_job_run_seconds"]
    # A histogram: cumulative buckets ending in +Inf == count (two test.noop runs: the
    # cancelled pending job never ran).
    noop = {
        s.labels["le"]: s.value
        for s in run.samples
        if s.name.endswith("_bucket") and s.labels["type"] == "test.noop"
    }
    assert noop["+Inf"] == 2.0
    assert list(noop.values()) == sorted(noop.values())
    assert samples(got["jobs_admin_jobs_running_by_type"]) == {(("type", "test.noop"),): 1.0}
    age = samples(got["jobs_admin_oldest_pending_age_seconds"])[()]
    assert 290 < age < 3600
    assert "jobs_admin_job_wait_seconds" in got
    assert "jobs_admin_workers_alive" in got


@ON
def test_metrics_refuse_without_the_token(app: Flask, client: Any, auth: Any) -> None:
    assert client.get(URL).status_code == 401
    assert client.get(URL).headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get(URL, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert b"jobs_admin_jobs" not in wrong.data
    assert client.get(URL, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    auth.login("viewer")  # view, not view_all
    assert client.get(URL).status_code == 403
    auth.logout()
    auth.login("operator")  # view_all
    response = client.get(URL)
    assert response.status_code == 200
    assert "jobs_admin_jobs" in families(response.get_data(as_text=True))


@pytest.mark.app_config(JOBS_ADMIN_METRICS_TOKEN=TOKEN)
def test_metrics_are_404_when_off(app: Flask, client: Any, auth: Any) -> None:
    assert client.get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    auth.login("admin")
    assert client.get(URL).status_code == 404


@pytest.mark.app_config(JOBS_ADMIN_METRICS=True)
def test_metrics_without_a_token_configured_only_users_with_view_all(
    app: Flask, client: Any, auth: Any
) -> None:
    assert client.get(URL, headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get(URL, headers={"Authorization": "Bearer None"}).status_code == 401
    auth.login("admin")
    assert client.get(URL).status_code == 200
