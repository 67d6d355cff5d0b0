"""The Schedules page: who sees and does what, CSRF, bad input changing nothing, audit events."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from jobs_admin.service import find_schedule, schedule_history
from tests.support import Probe

URL = "/admin/jobs/schedules"


@pytest.fixture(autouse=True)
def _forget_declared(jobs: Any) -> Iterator[None]:
    before = dict(jobs.registry.schedules)
    yield
    jobs.registry.schedules.clear()
    jobs.registry.schedules.update(before)


@pytest.fixture
def nightly(app: Flask, jobs: Any) -> dict[str, Any]:
    jobs.schedule(
        "nightly", "test.echo", "0 3 * * *", timezone="Europe/Berlin", description="<b>x</b>"
    )
    row: dict[str, Any] = find_schedule(jobs.runtime(), "nightly")
    return row


def test_schedules_page_lists_schedules_escaped_with_the_english_reading(
    client: Any, auth: Any, nightly: dict[str, Any]
) -> None:
    auth.login("admin")
    page = client.get(f"{URL}/").get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "At 03:00, every day" in page and "Europe/Berlin" in page
    assert "jobs_admin.housekeeping" in page
    assert "New schedule" in page and "Run now" in page and 'title="Edit"' in page
    state = client.get(f"{URL}/state.json").get_json()
    (row,) = [s for s in state["schedules"] if s["id"] == nightly["id"]]
    assert row["next_run_at"].startswith(nightly["next_run_at"].isoformat()[:16])


def test_schedules_page_viewer_reads_operator_runs_admin_edits(
    client: Any, auth: Any, jobs: Any, nightly: dict[str, Any], probe: Probe
) -> None:
    auth.login("viewer")
    page = client.get(f"{URL}/").get_data(as_text=True)
    assert "nightly" in page
    assert "New schedule" not in page and "Run now" not in page and 'title="Edit"' not in page
    token = auth.csrf_token()
    client.post(f"{URL}/{nightly['id']}/run", data={"csrf_token": token})
    client.post(f"{URL}/{nightly['id']}/disable", data={"csrf_token": token})
    assert probe.jobs(type="test.echo") == []
    assert find_schedule(jobs.runtime(), nightly["id"])["enabled"]
    auth.logout()

    auth.login("operator")
    token = auth.csrf_token()
    page = client.get(f"{URL}/").get_data(as_text=True)
    assert "Run now" in page and "New schedule" not in page
    client.post(f"{URL}/{nightly['id']}/disable", data={"csrf_token": token})
    assert find_schedule(jobs.runtime(), nightly["id"])["enabled"]
    assert client.get(f"{URL}/{nightly['id']}/edit").status_code == 302
    # Run now: one job, by the operator; the housekeeping needs 'prune', which it lacks.
    client.post(f"{URL}/{nightly['id']}/run", data={"csrf_token": token})
    (job,) = probe.jobs(type="test.echo")
    assert job["created_by"] == "operator" and job["schedule_id"] == nightly["id"]
    housekeeping = find_schedule(jobs.runtime(), "jobs_admin.housekeeping")
    client.post(f"{URL}/{housekeeping['id']}/run", data={"csrf_token": token})
    assert probe.jobs(type="jobs_admin.prune") == []
    auth.logout()

    auth.login("admin")
    token = auth.csrf_token()
    client.post(f"{URL}/{nightly['id']}/disable", data={"csrf_token": token})
    assert not find_schedule(jobs.runtime(), nightly["id"])["enabled"]
    events = schedule_history(jobs.runtime(), nightly["id"])
    assert [(e["kind"], e["who"]) for e in events[:2]] == [
        ("disabled", "admin"),
        ("run_now", "operator"),
    ]


def test_schedule_post_without_csrf_changes_nothing(
    client: Any, auth: Any, jobs: Any, nightly: dict[str, Any], probe: Probe
) -> None:
    auth.login("admin")
    for action in ("run", "disable", "delete"):
        client.post(f"{URL}/{nightly['id']}/{action}", data={"csrf_token": "forged"})
    assert probe.jobs(type="test.echo") == []
    assert find_schedule(jobs.runtime(), nightly["id"])["enabled"]


def test_schedule_edit_bad_cron_or_zone_is_a_form_error_and_saves_nothing(
    client: Any, auth: Any, jobs: Any, nightly: dict[str, Any]
) -> None:
    auth.login("admin")
    token = auth.csrf_token()
    desc = {"description": "<b>x</b>"}
    for cron, zone in (("0 25 * * *", "UTC"), ("0 4 * * *", "Atlantis/Capital")):
        page = client.post(
            f"{URL}/{nightly['id']}/edit",
            data={"csrf_token": token, "cron": cron, "timezone": zone, "skip_if_running": "y"},
        )
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "invalid-feedback" in text
        assert find_schedule(jobs.runtime(), nightly["id"]) == nightly
    page = client.post(
        f"{URL}/{nightly['id']}/edit",
        data={"csrf_token": token, "cron": "15 4 * * 1-5", "timezone": "UTC", **desc},
    )
    assert page.status_code == 302
    row = find_schedule(jobs.runtime(), nightly["id"])
    assert (row["cron"], row["timezone"], row["skip_if_running"]) == ("15 4 * * 1-5", "UTC", False)
    assert row["edited"] == ["cron", "skip_if_running", "timezone"]
    (event, *_rest) = schedule_history(jobs.runtime(), nightly["id"])
    assert event["kind"] == "updated" and event["who"] == "admin"
    assert event["data"]["before"]["cron"] == "0 3 * * *"


def test_schedule_create_with_params_and_delete(
    client: Any, auth: Any, jobs: Any, app: Flask, probe: Probe
) -> None:
    auth.login("admin")
    token = auth.csrf_token()
    assert "Count" in client.get(f"{URL}/new?type=test.items").get_data(as_text=True)
    bad = {"csrf_token": token, "name": "counting", "cron": "*/5 * * * *", "timezone": "UTC"}
    page = client.post(f"{URL}/new?type=test.items", data={**bad, "param-count": "x"})
    assert page.status_code == 200
    with pytest.raises(LookupError):
        find_schedule(jobs.runtime(), "counting")
    page = client.post(f"{URL}/new?type=test.items", data={**bad, "param-count": "4"})
    assert page.status_code == 302
    row = find_schedule(jobs.runtime(), "counting")
    assert row["params"]["count"] == 4 and row["origin"] == "admin"
    client.post(f"{URL}/{row['id']}/run", data={"csrf_token": token})
    jobs.work_off()
    detail = client.get(f"{URL}/{row['id']}/").get_data(as_text=True)
    assert "run now by admin" in detail and "created" in detail
    client.post(f"{URL}/{row['id']}/delete", data={"csrf_token": token})
    with pytest.raises(LookupError):
        find_schedule(jobs.runtime(), "counting")
    assert len(probe.jobs(type="test.items")) == 1  # its jobs stay
    # A built-in one cannot be deleted.
    housekeeping = find_schedule(jobs.runtime(), "jobs_admin.housekeeping")
    client.post(f"{URL}/{housekeeping['id']}/delete", data={"csrf_token": token})
    assert find_schedule(jobs.runtime(), "jobs_admin.housekeeping")["id"] == housekeeping["id"]


def test_schedule_history_links_to_the_jobs_list_filtered_to_the_schedule(
    client: Any, auth: Any, jobs: Any, nightly: dict[str, Any]
) -> None:
    rt = jobs.runtime()
    from jobs_admin.service import run_now

    fired = run_now(rt, nightly["name"], "admin")
    other = jobs.enqueue("test.echo", name="not scheduled", commit=True)
    auth.login("admin")
    page = client.get(f"{URL}/{nightly['id']}/").get_data(as_text=True)
    link = re.search(r'href="([^"]+)" id="jobs-admin-schedule-list"', page)
    assert link is not None
    url = html.unescape(link.group(1))
    assert f"_schedule_equals={nightly['id']}" in url
    listed = client.get(url + "&flt9_created_within=all").get_data(as_text=True)
    assert f'data-jobs-admin-job="{fired}"' in listed
    assert f'data-jobs-admin-job="{other.id}"' not in listed
    # A value that is not an id is refused with a message, and the list shows everything.
    bad = client.get("/admin/jobs/?flt0_schedule_equals=x").get_data(as_text=True)
    assert "Invalid value" in bad
