"""The Insights page and its data: permissions, scoping, bad arguments, the list links."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support import Probe

URL = "/admin/jobs/insights/"


def test_insights_page_needs_view(app: Flask, client: Any, auth: Any) -> None:
    response = client.get(URL)
    assert response.status_code in (302, 401, 403)
    assert client.get(URL + "data").status_code in (302, 401, 403)


def test_insights_page_charts_everyones_ends_for_view_all(
    app: Flask, client: Any, auth: Any, make_job: Any
) -> None:
    make_job("completed", created_by="admin")
    make_job("failed", created_by="viewer")
    auth.login("operator")
    page = client.get(URL)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "uPlot.iife.min.js" in html and "jobs_admin_insights.js" in html
    assert "test.noop" in html and "test.fail_once" in html
    assert "All jobs" in html
    data = client.get(URL + "data?range=1h").get_json()
    assert sum(data["counts"]["completed"]) == 1
    assert sum(data["counts"]["failed"]) == 1
    assert len(data["times"]) == 60
    assert {t["type"] for t in data["types"]} == {"test.noop", "test.fail_once"}


def test_insights_are_scoped_to_own_jobs_without_view_all(
    app: Flask, client: Any, auth: Any, make_job: Any
) -> None:
    make_job("completed", created_by="admin")
    make_job("failed", created_by="viewer")
    auth.login("viewer")
    page = client.get(URL).get_data(as_text=True)
    assert "Your jobs only" in page
    data = client.get(URL + "data?range=90d").get_json()
    assert sum(data["counts"]["completed"]) == 0
    assert sum(data["counts"]["failed"]) == 1
    assert [t["type"] for t in data["types"]] == ["test.fail_once"]


def test_insights_ignore_a_bad_range_or_type_with_a_message(
    app: Flask, client: Any, auth: Any, make_job: Any
) -> None:
    make_job("completed", created_by="admin")
    auth.login("admin")
    page = client.get(URL + "?range=5y&type=<script>x</script>", follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Unknown range" in html and "Unknown job type" in html
    assert "<script>x</script>" not in html
    data = client.get(URL + "data?range=nope&type=test.noop").get_json()
    assert data["range"] == "24h"
    assert [t["type"] for t in data["types"]] == ["test.noop"]


def test_insights_link_opens_the_list_filtered_to_interval_and_status(
    app: Flask, client: Any, auth: Any, make_job: Any, probe: Probe
) -> None:
    done = make_job("completed", created_by="admin")
    failed = make_job("failed", created_by="admin")
    auth.login("admin")
    data = client.get(URL + "data?range=1h").get_json()
    i = next(i for i, n in enumerate(data["counts"]["failed"]) if n)
    start = data["times"][i]
    # What jobs_admin_insights.js opens on a click on the failed band of that bar.
    listing = client.get(
        f"/admin/jobs/?flt0_status_equals=failed&flt1_finished_between={start}-{start + 60}"
        "&flt2_created_within=all"
    )
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert f"details/?id={failed}" in html
    assert f"details/?id={done}" not in html
    empty = client.get(
        f"/admin/jobs/?flt1_finished_between={start - 3600}-{start - 3000}&flt2_created_within=all"
    ).get_data(as_text=True)
    assert f"details/?id={failed}" not in empty


def test_insights_sparkline_above_the_list_tiles(
    app: Flask, client: Any, auth: Any, make_job: Any
) -> None:
    make_job("completed", created_by="admin")
    make_job("failed", created_by="viewer")
    auth.login("admin")
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert "2 jobs finished in 24 h (1 failed)" in html
    assert 'href="/admin/jobs/insights/?range=24h"' in html
    auth.logout()
    auth.login("viewer")
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert "1 job finished in 24 h (1 failed)" in html
