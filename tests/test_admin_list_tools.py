"""The job list's wave-2 tools (issue 14): the default range, chips, optional columns, the row
refresh, Download and labelled retries, the Paused label, phase filter values, the texts of the
confirmation dialogs and the "Clear old jobs" count. Run on PostgreSQL too with
``JOBS_ADMIN_TEST_BACKEND=postgresql``."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_sqlalchemy import SQLAlchemy

from jobs_admin import JobsAdmin, changes
from jobs_admin.admin.views import JobView
from jobs_admin.config import read_settings
from jobs_admin.models import EventKind, JobStatus, utcnow
from tests.support import init_babel
from tests.test_admin_actions import forms
from tests.test_admin_list import add, claim, listed, page, query_of, rows, tiles

#: The worker name ``claim`` of tests/test_admin_list.py claims with.
CLAIMED_BY = "test-host:1:admin"

OPTIONAL = (
    "message",
    "started_at",
    "updated_at",
    "updated_by",
    "percent",
    "items",
    "attempts",
    "priority",
    "worker",
)


def aged(jobs: Any, probe: Any, days: float, **kw: Any) -> int:
    """A job created ``days`` ago."""
    job_id = add(jobs, **kw)
    probe.update(job_id, created_at=utcnow() - timedelta(days=days))
    return job_id


def chips(html: str) -> list[tuple[str, str | None]]:
    """The chips of the collapsed filter bar: (label, remove link)."""
    box = re.search(r'<div class="jobs-admin-chips.*?</div>', html, re.S)
    assert box, "no chips"
    found = []
    for body in re.findall(r'<span class="badge[^"]*jobs-admin-chip">(.*?)</span>', box.group(0)):
        link = re.search(r'href="([^"]*)"', body)
        label = html_lib.unescape(re.sub(r"<a .*", "", body, flags=re.S)).strip()
        found.append((label, html_lib.unescape(link.group(1)) if link else None))
    return found


def row_html(html: str, job_id: int) -> str:
    """One row of the table."""
    for tr in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if f'data-jobs-admin-job="{job_id}"' in tr:
            return str(tr)
    raise AssertionError(f"job {job_id} is not listed")


def cell(tr: str, column: str) -> str:
    match = re.search(rf'<td class="col-{column}">(.*?)</td>', tr, re.S)
    assert match, column
    return re.sub(r"\s+", " ", match.group(1)).strip()


# -- the default range -----------------------------------------------------------------------


def test_default_range_config_accepts_the_presets_and_refuses_anything_else(tmp_path: Any) -> None:
    for value in ("today", "7d", "30d", "all"):
        assert read_settings({"JOBS_ADMIN_DEFAULT_RANGE": value}, str(tmp_path)).default_range == (
            value
        )
    assert read_settings({}, str(tmp_path)).default_range == "7d"
    for bad in ("7", "week", "", None, "ALL"):
        with pytest.raises(ValueError, match="JOBS_ADMIN_DEFAULT_RANGE must be one of"):
            read_settings({"JOBS_ADMIN_DEFAULT_RANGE": bad}, str(tmp_path))


def test_default_range_narrows_the_list_and_export_until_a_range_is_picked(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    recent = aged(jobs, probe, 3, name="recent")
    older = aged(jobs, probe, 10, name="older")
    oldest = aged(jobs, probe, 40, name="oldest")
    auth.login("admin")
    html = page(client)
    assert rows(html) == [recent] and listed(html) == 1
    # The default is shown as the active preset, and as a chip whose link shows all time.
    assert re.search(r'active" data-range="7d"', html)
    (chip,) = chips(html)
    assert chip[0] == "Created: Last 7 days (default)"
    assert query_of(chip[1] or "") == {"flt0_created_within": "all"}
    # "All" is an explicit choice that overrides it; so is any other preset.
    html = page(client, "flt0_created_within=all")
    assert rows(html) == [recent, older, oldest]
    assert ("Created: All", "/admin/jobs/") in chips(html)
    assert rows(page(client, "flt0_created_within=30d")) == [recent, older]
    assert rows(page(client, "flt0_created_between=2000-01-01+to+2100-01-01")) == [
        recent,
        older,
        oldest,
    ]
    # The export is what the list shows.
    export = client.get("/admin/jobs/export.csv").get_data(as_text=True).strip().splitlines()
    assert len(export) == 2 and export[1].startswith(f"{recent},")


def test_kpi_tiles_count_every_job_whatever_the_range_and_say_so(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    aged(jobs, probe, 1)
    aged(jobs, probe, 100)
    auth.login("admin")
    html = page(client)
    assert listed(html) == 1
    found = tiles(html)
    assert found["total"]["count"] == 2 and found["pending"]["count"] == 2
    # The titles come escaped from the catalogue (the apostrophe is &#39;).
    titles = [
        (k, html_lib.unescape(t))
        for k, t in re.findall(r'data-kpi="(\w+)"[^>]*title="([^"]*)"', html)
    ]
    assert len(titles) == 7
    assert all("whatever the table's filter, search and date range" in t for _, t in titles)
    assert dict(titles)["total"].startswith("2 jobs in all")


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="today")
def test_default_range_today_counts_from_midnight_utc(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    now = utcnow()
    today = add(jobs)
    yesterday = aged(jobs, probe, 0)
    probe.update(yesterday, created_at=now.replace(hour=0, minute=0, second=0) - timedelta(hours=1))
    auth.login("admin")
    assert rows(page(client)) == [today]
    assert chips(page(client))[0][0] == "Created: Today (default)"


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="all")
def test_default_range_all_lists_every_job_from_the_counters(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    ids = [aged(jobs, probe, 400), add(jobs)]
    auth.login("admin")
    html = page(client)
    assert sorted(rows(html)) == sorted(ids) and listed(html) == 2
    assert chips(html) == [] and 'data-default-range="' not in html
    assert re.search(r'active" data-range="all"', html)


# -- chips -----------------------------------------------------------------------------------


def test_chips_name_each_active_filter_and_link_to_the_list_without_it(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    add(jobs, "test.noop", name="x")
    auth.login("admin")
    html = page(
        client,
        "flt0_status_equals=failed&flt1_type_equals=test.noop&flt2_created_by_equals=op%3Cb%3E"
        "&search=needle&sort=1&page=2",
    )
    found = dict(chips(html))
    assert set(found) == {
        "Status: Failed",
        "Type: Test: no-op",
        "Created by: op<b>",
        "Search: needle",
        "Created: Last 7 days (default)",
    }
    # The typed value is escaped, never markup.
    assert "op<b>" not in html.split('class="jobs-admin-chips', 1)[1].split("</div>", 1)[0]
    without_status = query_of(found["Status: Failed"] or "")
    assert without_status == {
        "flt1_type_equals": "test.noop",
        "flt2_created_by_equals": "op<b>",
        "search": "needle",
        "sort": "1",
    }
    assert "search" not in query_of(found["Search: needle"] or "")


# -- optional columns ------------------------------------------------------------------------


def test_optional_columns_show_message_times_people_progress_attempts_priority_worker(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    job_id = add(jobs, "test.items", "admin", count=100, name="Big")
    claim(jobs, db)
    probe.update(
        job_id,
        message="Importing <rows> " + "x" * 200,
        progress_total=100,
        progress_done=45,
        progress_failed=5,
        updated_by="operator",
        priority=7,
        max_attempts=3,
    )
    auth.login("admin")
    html = page(client)
    headers = re.findall(r'<th class="column-header col-(\w+)">\s*(.*?)\s*</th>', html, re.S)
    assert [h for h, _ in headers][-9:] == list(OPTIONAL)
    tr = row_html(html, job_id)
    message = cell(tr, "message")
    assert "&lt;rows&gt;" in message and "<rows>" not in message
    assert len(html_lib.unescape(re.sub(r"<[^>]+>", "", message))) <= 80
    assert cell(tr, "updated_by") == "operator"
    assert cell(tr, "percent") == "50%"
    assert cell(tr, "items") == "45 of 100"
    assert cell(tr, "attempts") == "1 of 3"
    assert cell(tr, "priority") == "7"
    assert "test-host:1:admin" in cell(tr, "worker")
    assert "<time" in cell(tr, "started_at") and "<time" in cell(tr, "updated_at")
    # Hidden until chosen: no column is shown by default, each has its hiding rule.
    assert 'class="jobs-admin-list"' in html
    for name in OPTIONAL:
        assert f".jobs-admin-list:not(.jobs-admin-show-{name}) .col-{name}" in html
        assert f'data-column="{name}"' in html


def test_optional_columns_default_set_comes_from_the_view_class(
    app: Any, client: Any, auth: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JobView, "column_optional_default", ("message", "worker"))
    add(jobs)
    auth.login("admin")
    html = page(client)
    assert 'class="jobs-admin-list jobs-admin-show-message jobs-admin-show-worker"' in html
    assert re.search(r"data-default-columns='\[&#34;message&#34;, &#34;worker&#34;\]'", html) or (
        """data-default-columns='["message", "worker"]'""" in html
    )
    assert re.search(r'data-column="message" checked', html)
    assert not re.search(r'data-column="priority" checked', html)


def test_jobs_admin_takes_a_view_class_with_its_declarations(tmp_path: Any) -> None:
    class ShopJobView(JobView):
        column_optional_default = ("items",)

    db = SQLAlchemy()
    jobs = JobsAdmin(db=db, view_class=ShopJobView)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="x",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'v.db'}",
        JOBS_ADMIN_WORKER="off",
    )
    db.init_app(app)
    init_babel(app)
    admin = Admin(app, theme=Bootstrap4Theme())
    jobs.init_app(app, admin=admin)
    (view,) = [v for v in admin._views if isinstance(v, JobView)]
    assert type(view) is ShopJobView
    assert view.optional_columns()[5] == ("items", "Items", True)


def test_live_changes_carry_the_optional_columns_and_whether_there_is_a_result(
    app: Any, jobs: Any, db: Any, probe: Any
) -> None:
    with db.engine.connect() as conn:
        since = jobs.store.change_cursor(conn)
    job_id = add(jobs, "test.result_file")
    jobs.work_off()
    probe.update(job_id, updated_by="operator", priority=3)
    with db.engine.connect() as conn:
        batch = changes.read(conn, jobs.store.jobs, since, limit=10)
    (found,) = [j for j in batch.jobs if j["id"] == job_id]
    assert found["updated_by"] == "operator" and found["priority"] == 3
    assert found["has_result"] is True and "result_file" not in found
    assert "worker" in found


# -- row buttons: download, labelled retries, confirmations ----------------------------------


def test_row_buttons_offer_download_for_a_result_file(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    with_file = add(jobs, "test.result_file", "viewer")
    without = add(jobs, "test.noop", "viewer")
    jobs.work_off()
    auth.login("viewer")
    html = page(client)
    assert f'href="/admin/jobs/{with_file}/download" download' in row_html(html, with_file)
    assert "/download" not in row_html(html, without)
    response = client.get(f"/admin/jobs/{with_file}/download")
    assert response.status_code == 200 and response.get_data() == f"job {with_file}\n".encode()
    response.close()


def test_row_buttons_of_a_partial_job_say_what_each_retry_reruns(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    partial = add(jobs, "test.items", count=6, fail_every=2)
    jobs.work_off()
    auth.login("operator")
    tr = row_html(page(client), partial)
    assert f'title="Retry all 6 items (job {partial})"' in tr
    assert f'title="Retry the 3 failed items (job {partial})"' in tr
    assert f'action="/admin/jobs/{partial}/retry-items"' in tr


def test_confirmations_name_the_action_and_both_choices(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any
) -> None:
    running = add(jobs)
    claim(jobs, db)
    done = add(jobs)
    jobs.work_off()
    pending = add(jobs)
    auth.login("admin")
    html = page(client)
    found = forms(html)
    assert set(found) >= {f"/admin/jobs/{i}/cancel" for i in (running, pending)}

    def said(tr: str, action: str) -> dict[str, str]:
        form = re.search(rf'<form[^>]*action="/admin/jobs/\d+/{action}"[^>]*>', tr)
        assert form, action
        return {
            k: html_lib.unescape(v)
            for k, v in re.findall(r'data-(confirm[\w-]*)="([^"]*)"', form.group(0))
        }

    stop = said(row_html(html, running), "cancel")
    assert (stop["confirm-title"], stop["confirm-yes"], stop["confirm-no"]) == (
        f"Stop job #{running}?",
        "Stop job",
        "Keep running",
    )
    assert "items it has done are kept" in stop["confirm"]
    unqueue = said(row_html(html, pending), "cancel")
    assert (unqueue["confirm-yes"], unqueue["confirm-no"]) == ("Cancel job", "Keep it queued")
    delete = said(row_html(html, done), "delete")
    assert (delete["confirm-yes"], delete["confirm-no"]) == ("Delete job", "Keep")
    assert "cannot be undone" in delete["confirm"]


def test_clear_old_jobs_dialog_never_suggests_active_jobs_lose_anything(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    add(jobs)
    auth.login("admin")
    html = page(client)
    dialog = html.split('id="jobs-admin-prune"', 1)[1].split("</form>", 1)[0]
    assert "Pending and running jobs are not touched" in dialog
    assert "Their logs" not in dialog  # read as the pending and running jobs' logs
    assert 'data-url="/admin/jobs/prune/count"' in dialog
    assert "Keep all jobs" in dialog and "Delete old jobs" in dialog


def test_prune_count_says_how_many_jobs_would_go(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    old = [add(jobs) for _ in range(3)]
    active = add(jobs, "test.noop")
    jobs.work_off(limit=3)
    long_ago = utcnow() - timedelta(days=40)
    for job_id in old:
        probe.update(job_id, finished_at=long_ago)
    probe.update(active, created_at=long_ago)
    auth.login("admin")
    answer = client.get("/admin/jobs/prune/count?days=30")
    assert answer.status_code == 200 and answer.get_json() == {"days": 30, "count": 3}
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/admin/jobs/prune/count?days=0").get_json()["count"] == 3
    assert client.get("/admin/jobs/prune/count?days=50").get_json()["count"] == 0
    for bad in ("-1", "x", "", "36501", "1.5"):
        response = client.get(f"/admin/jobs/prune/count?days={bad}")
        assert response.status_code == 400 and "days must be" in response.get_json()["error"]
    auth.login("operator")  # no 'prune'
    response = client.get("/admin/jobs/prune/count?days=30")
    assert response.status_code == 403 and probe.status(old[0]) == "completed"


# -- the row refresh -------------------------------------------------------------------------


def test_rows_endpoint_renders_cells_and_buttons_as_the_user_may_use_them(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    failed = add(jobs, "test.fail", "viewer")
    other = add(jobs, "test.noop", "admin")
    jobs.work_off()
    url = "/admin/jobs/?flt0_status_equals=failed"
    auth.login("operator")  # view_all, retry, cancel; no delete
    body = client.get(
        "/admin/jobs/rows", query_string={"id": [failed, other, 999999], "url": url}
    ).get_json()
    assert set(body["jobs"]) == {str(failed), str(other)} and body["gone"] == [999999]
    row = body["jobs"][str(failed)]
    assert row["status"] in ("failed", "pending")  # test.fail retries with a backoff
    assert f"/admin/jobs/details/?id={failed}" in row["actions"]
    if row["status"] == "failed":
        assert f'action="/admin/jobs/{failed}/retry"' in row["actions"]
    assert "/delete" not in row["actions"]
    # The forms come back to the page the rows are on.
    assert f'name="url" value="{html_lib.escape(url)}"' in row["actions"].replace("&#34;", '"')
    assert set(row["cells"]) >= {"status", "name", *OPTIONAL}
    assert 'data-status="' in row["cells"]["status"]
    # A viewer sees only own jobs: another's is "gone", never rendered.
    auth.login("viewer")
    body = client.get("/admin/jobs/rows", query_string={"id": [failed, other]}).get_json()
    assert set(body["jobs"]) == {str(failed)} and body["gone"] == [other]
    assert "/retry" not in body["jobs"][str(failed)]["actions"]


def test_rows_endpoint_refuses_bad_ids_and_foreign_return_urls(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    job_id = add(jobs)
    auth.login("admin")
    assert client.get("/admin/jobs/rows?id=abc").status_code == 400
    body = client.get(
        "/admin/jobs/rows", query_string={"id": job_id, "url": "https://evil.example/"}
    ).get_json()
    assert "evil.example" not in body["jobs"][str(job_id)]["actions"]
    assert 'name="url" value="/admin/jobs/"' in body["jobs"][str(job_id)]["actions"]
    auth.logout()
    assert client.get(f"/admin/jobs/rows?id={job_id}").status_code in (302, 401, 403)


# -- Paused ----------------------------------------------------------------------------------


def pause(jobs: Any, db: Any, job_id: int, worker: str = "web-1") -> None:
    """What a worker's shutdown does to a job ``claim`` started (as the runner writes it):
    pending, phase Paused, a "paused: ..." event."""
    with db.engine.begin() as conn:
        store = jobs.store
        assert store.finish(conn, job_id, CLAIMED_BY, JobStatus.PENDING, store.pause_values())
        store.event(conn, job_id, EventKind.STATUS, f"paused: {worker} shut down")


def test_paused_job_shows_a_grey_label_with_its_reason_in_the_list_and_its_page(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    job_id = add(jobs, "test.items", count=5)
    plain = add(jobs)
    claim(jobs, db)
    pause(jobs, db, job_id)
    auth.login("admin")
    html = page(client)
    status = cell(row_html(html, job_id), "status")
    assert 'data-status="pending"' in status
    label = re.search(
        r'<span class="badge badge-secondary jobs-admin-paused" title="([^"]*)">Paused', status
    )
    assert label and html_lib.unescape(label.group(1)).startswith("Paused: web-1 shut down.")
    assert "jobs-admin-paused" not in row_html(html, plain)
    detail = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    header = detail.split("<h2", 1)[1].split("</h2>", 1)[0]
    assert 'data-status="pending"' in header and "Paused: web-1 shut down." in header


def test_store_reads_pause_reasons_and_running_phases(
    app: Any, jobs: Any, db: Any, probe: Any
) -> None:
    a, b, c = add(jobs, by="admin"), add(jobs, by="viewer"), add(jobs)
    claim(jobs, db)
    probe.update(a, phase="Building pages")
    probe.update(b, phase="Zipping")
    probe.update(c, phase=None)
    pause(jobs, db, c, "w-old")
    claim(jobs, db)
    pause(jobs, db, c, "w-new")
    with app.app_context(), db.engine.connect() as conn:
        assert jobs.store.pause_reasons(conn, [a, c]) == {c: "paused: w-new shut down"}
        assert jobs.store.pause_reasons(conn, []) == {}
        assert jobs.store.running_phases(conn) == ["Building pages", "Zipping"]
        mine = jobs.Job.created_by == "viewer"
        assert jobs.store.running_phases(conn, mine) == ["Zipping"]


# -- phase filter values ---------------------------------------------------------------------


def test_status_filter_offers_and_applies_running_phases(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    building, zipping = add(jobs, by="operator"), add(jobs, by="viewer")
    claim(jobs, db)
    probe.update(building, phase="Building pages")
    probe.update(zipping, phase="Zipping")
    idle = add(jobs)
    auth.login("admin")
    html = page(client)
    groups = re.search(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', html, re.S)
    assert groups
    data = html_lib.unescape(groups.group(1))
    assert '["running:Building pages", "Running: Building pages"]' in data
    assert '["running:Zipping", "Running: Zipping"]' in data
    html = page(client, "flt0_status_equals=running%3ABuilding+pages")
    assert rows(html) == [building] and listed(html) == 1
    assert [k for k, t in tiles(html).items() if t["active"]] == ["running"]
    assert ("Status: Running: Building pages", "/admin/jobs/") in chips(html)
    # A phase no job is in lists nothing; a status that is no status is refused.
    assert rows(page(client, "flt0_status_equals=running%3ANothing")) == []
    html = page(client, "flt0_status_equals=bogus%3AZipping")
    assert "Invalid value" in html and idle in rows(html)
    # A viewer is offered only the phases of jobs they may see.
    auth.login("viewer")
    html = page(client)
    assert "Running: Zipping" in html and "Building pages" not in html


def test_running_phases_look_at_a_bounded_number_of_jobs(
    app: Any, jobs: Any, db: Any, probe: Any
) -> None:
    ids = [add(jobs) for _ in range(5)]
    claim(jobs, db)
    for i, job_id in enumerate(ids):
        probe.update(job_id, phase=f"phase {i}")
    with db.engine.connect() as conn:
        assert len(jobs.store.running_phases(conn, scan=2)) == 2
        assert len(jobs.store.running_phases(conn)) == 5
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.engine.connect() as conn:
            jobs.store.running_phases(conn)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    (sql,) = statements
    assert "LIMIT" in sql.upper() and "DISTINCT" in sql.upper()


def test_range_buttons_replace_a_custom_range_and_keep_the_other_filters(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    add(jobs)
    auth.login("admin")
    html = page(client, "flt0_created_between=2026-01-01+to+2026-01-31&flt1_type_equals=test.noop")
    buttons = {
        label: query_of(html_lib.unescape(href))
        for href, label in re.findall(r'data-range="\w+"\s*href="([^"]*)"[^>]*>([^<]+)<', html)
    }
    assert buttons["Last 7 days"] == {"flt1_type_equals": "test.noop"}
    assert buttons["All"] == {"flt1_type_equals": "test.noop", "flt2_created_within": "all"}
    # No preset is highlighted while a custom range is in force.
    assert not re.search(r'active" data-range=', html)


def test_init_app_refuses_an_unknown_default_range(make_app: Any) -> None:
    with pytest.raises(ValueError, match=r"JOBS_ADMIN_DEFAULT_RANGE must be one of .*'weekly'"):
        make_app(JOBS_ADMIN_DEFAULT_RANGE="weekly")
