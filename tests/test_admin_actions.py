"""Admin panel: row and bulk actions, the detail page, retry of failed items, clear old jobs,
downloads and the run form. Every action is checked against the database, not only the page.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from jobs_admin.models import utcnow

# -- speed: the suite builds a fresh app per test -----------------------------------------------


# -- helpers ---------------------------------------------------------------------------------

FORM_RE = re.compile(r"<form([^>]*)>(.*?)</form>", re.S)


def add(jobs: Any, job_type: str = "test.noop", by: str = "admin", **kw: Any) -> int:
    """Enqueue and commit a job; ``name``/``reference`` are options, the rest params."""
    options = {k: kw.pop(k) for k in ("name", "reference") if k in kw}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, **kw).id)


def claim(jobs: Any, db: Any) -> list[int]:
    """Move every due pending job to running, as a worker would (nothing runs it)."""
    with db.engine.begin() as conn:
        return list(jobs.store.claim(conn, "test-host:1:admin", 100))


def finished(jobs: Any, job_type: str, by: str = "admin", **kw: Any) -> int:
    job_id = add(jobs, job_type, by, **kw)
    jobs.work_off()
    return job_id


def forms(html: str) -> dict[str, dict[str, str]]:
    """The page's POST forms: action URL -> hidden field values."""
    found = {}
    for attrs, body in FORM_RE.findall(html):
        if 'method="POST"' not in attrs:
            continue
        action = re.search(r'action="([^"]+)"', attrs).group(1)  # type: ignore[union-attr]
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body))
        fields |= {
            n: v for v, n in re.findall(r'<input[^>]*value="([^"]*)"[^>]*name="([^"]+)"', body)
        }
        found[html_lib.unescape(action)] = {k: html_lib.unescape(v) for k, v in fields.items()}
    return found


def token(client: Any) -> str:
    html = client.get("/admin/jobs/").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the list page"
    return match.group(1)


def flashes(client: Any) -> list[tuple[str, str]]:
    """The flashed (category, message) pairs not yet shown, consuming them."""
    with client.session_transaction() as session:
        return [(c, str(m)) for c, m in session.pop("_flashes", [])]


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="text-monospace">#(\d+)</a>', html)]


def same_url(a: str, b: str) -> bool:
    """Same path and same query arguments, in any order."""
    return (urlsplit(a).path, sorted(parse_qsl(urlsplit(a).query))) == (
        urlsplit(b).path,
        sorted(parse_qsl(urlsplit(b).query)),
    )


def results_dir(jobs: Any) -> Path:
    return Path(jobs.settings().results_dir)


# -- row actions -----------------------------------------------------------------------------


def test_row_retry_requeues_a_failed_job_and_records_who(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.fail_once", "viewer")
    before = probe.job(job_id)
    assert before["status"] == "failed" and before["error"]
    auth.login("operator")
    response = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token(client)})
    assert response.status_code == 302
    ((category, message),) = flashes(client)
    link = f'<a href="/admin/jobs/details/?id={job_id}">#{job_id} Test: fail once</a>'
    assert category == "success" and message == (
        f"Job {link} is queued again."
        f'<span class="jobs-admin-watch" data-state="/admin/jobs/{job_id}/state.json" hidden>'
        "</span>"
    )
    row = probe.job(job_id)
    assert row["status"] == "pending"
    assert row["error"] is None and row["traceback"] is None
    assert row["updated_by"] == "operator"
    assert row["max_attempts"] == before["attempts"] + 1
    (audit,) = probe.events(job_id, kind="action")
    assert audit["message"] == "retried by operator"
    assert probe.group_by_status() == jobs.counts()
    # The detail page shows it in the history.
    detail = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert "retried by operator" in detail


@pytest.mark.parametrize("status", ["completed", "pending", "running"])
def test_row_retry_of_a_job_that_cannot_be_retried_changes_nothing(
    status: str, app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    if status == "completed":
        job_id = finished(jobs, "test.noop")
    else:
        job_id = add(jobs)
        if status == "running":
            claim(jobs, db)
    auth.login("admin")
    before = probe.snapshot(job_id)
    client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token(client)})
    assert flashes(client) == [("error", f"Job {job_id} is {status}: cannot retry it.")]
    assert probe.snapshot(job_id) == before
    # ... and the list offers no retry button for it.
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert f"/admin/jobs/{job_id}/retry" not in html


def test_row_retry_of_a_job_whose_type_is_gone_says_which_type(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.fail_once")
    probe.update(job_id, type="Legacy.ExportV1")
    auth.login("admin")
    before = probe.snapshot(job_id)
    client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token(client)})
    assert flashes(client) == [("error", "Unknown job type 'Legacy.ExportV1'.")]
    assert probe.snapshot(job_id) == before


def test_row_cancel_pending_running_and_refusals(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    done = finished(jobs, "test.noop")
    running = add(jobs, "test.slow_cancellable")
    stubborn = add(jobs, "test.uncancellable")
    claim(jobs, db)
    pending = add(jobs)
    auth.login("operator")
    csrf = token(client)

    client.post(f"/admin/jobs/{pending}/cancel", data={"csrf_token": csrf})
    assert flashes(client) == [("success", f"Job {pending} is cancelled.")]
    assert probe.status(pending) == "cancelled"
    assert probe.job(pending)["updated_by"] == "operator"

    client.post(f"/admin/jobs/{running}/cancel", data={"csrf_token": csrf})
    assert flashes(client) == [
        ("success", f"Job {running} was asked to stop; it ends after its current item.")
    ]
    row = probe.job(running)
    assert row["status"] == "running" and row["cancel_requested"]

    for job_id in (stubborn, done):
        before = probe.snapshot(job_id)
        client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": csrf})
        ((category, message),) = flashes(client)
        assert category == "error" and message.startswith(f"Job {job_id} is ")
        assert probe.snapshot(job_id) == before
    assert probe.group_by_status() == jobs.counts()


def test_row_delete_removes_the_job_its_events_and_result_file(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.result_file")
    keep = finished(jobs, "test.result_file")
    path = results_dir(jobs) / probe.job(job_id)["result_file"]
    assert path.is_file() and probe.events(job_id)
    auth.login("admin")
    client.post(f"/admin/jobs/{job_id}/delete", data={"csrf_token": token(client)})
    assert flashes(client) == [("success", f"Job {job_id} is deleted.")]
    assert probe.job(job_id) is None
    assert probe.events(job_id) == []
    assert not path.exists()
    assert (results_dir(jobs) / probe.job(keep)["result_file"]).is_file()
    assert probe.group_by_status() == jobs.counts()
    # Active jobs cannot be deleted.
    pending = add(jobs)
    before = probe.snapshot(pending)
    client.post(f"/admin/jobs/{pending}/delete", data={"csrf_token": token(client)})
    assert flashes(client) == [
        ("error", f"Job {pending} is pending: cannot delete it: it is still active.")
    ]
    assert probe.snapshot(pending) == before


def test_row_action_on_a_missing_job_says_so(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    auth.login("admin")
    for action in ("retry", "cancel", "delete", "retry-items"):
        client.post(f"/admin/jobs/999/{action}", data={"csrf_token": token(client)})
        assert flashes(client) == [("error", "Job 999 does not exist or you may not see it.")]
    assert probe.count() == 0
    # Past a 64-bit id: no job either, not a database error.
    big = "9" * 25
    client.post(f"/admin/jobs/{big}/retry", data={"csrf_token": token(client)})
    assert flashes(client) == [("error", f"Job {big} does not exist or you may not see it.")]
    response = client.get(f"/admin/jobs/{big}/download")
    assert response.status_code == 302
    assert flashes(client) == [("error", "That job has no result file you may download.")]
    client.post(
        "/admin/jobs/action/",
        data={"csrf_token": token(client), "action": "retry", "rowid": [big]},
    )
    assert flashes(client) == [("warning", f"Skipped 1: #{big} not found")]


@pytest.mark.parametrize(
    "target",
    [
        "http:evil.example",  # Flask-Admin's is_safe_url takes it for this host
        "https:evil.example",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",  # browsers drop the tab: //evil.example
        "http://evil.example/admin/",
        "javascript:alert(1)",
    ],
)
def test_no_redirect_or_back_link_leaves_the_site(
    target: str, app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.fail_once")
    auth.login("admin")
    url = quote(target, safe="")

    def lands_home(response: Any) -> None:
        assert response.status_code == 302
        assert response.headers["Location"] == "/admin/jobs/", response.headers["Location"]

    lands_home(client.get(f"/admin/jobs/details/?id=999&url={url}"))
    lands_home(client.get(f"/admin/jobs/{job_id}/download?url={url}"))
    # Without a CSRF token (a cross-site form), and with one.
    lands_home(client.post(f"/admin/jobs/{job_id}/cancel?url={url}"))
    lands_home(client.post(f"/admin/jobs/{job_id}/cancel", data={"url": target}))
    before = probe.snapshot(job_id)
    lands_home(
        client.post(
            "/admin/jobs/action/",
            data={"csrf_token": token(client), "action": "delete", "rowid": [], "url": target},
        )
    )
    # Flask-Admin's own views, disabled here, still answer with a redirect to ``url``.
    lands_home(client.get(f"/admin/jobs/new/?url={url}"))
    lands_home(client.get(f"/admin/jobs/edit/?id={job_id}&url={url}"))
    lands_home(client.post(f"/admin/jobs/delete/?url={url}", data={"id": str(job_id)}))
    assert probe.snapshot(job_id) == before
    # The detail page's back link is the list's, not the given target.
    html = client.get(f"/admin/jobs/details/?id={job_id}&url={url}").get_data(as_text=True)
    assert f'="{html_lib.escape(target)}' not in html  # no link or form goes to it
    flashes(client)


def test_row_actions_come_back_to_the_same_filtered_page(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    failed = [finished(jobs, "test.fail_once", name=f"nightly {i}") for i in range(30)]
    auth.login("admin")
    listing = "/admin/jobs/?flt0_status_equals=failed&search=nightly&page=1&page_size=25"
    html = client.get(listing).get_data(as_text=True)
    shown = rows(html)
    assert len(shown) == 5
    target = shown[0]
    found = forms(html)
    retry = found[f"/admin/jobs/{target}/retry"]
    back = retry["url"]
    assert dict(parse_qsl(urlsplit(back).query)) == {
        "flt0_status_equals": "failed",
        "search": "nightly",
        "page": "1",
        "page_size": "25",
    }
    response = client.post(f"/admin/jobs/{target}/retry", data=retry)
    assert response.headers["Location"] == back
    assert probe.status(target) == "pending"
    # Delete from the same page: back to the same page again.
    other = rows(client.get(back).get_data(as_text=True))[0]
    delete = forms(client.get(back).get_data(as_text=True))[f"/admin/jobs/{other}/delete"]
    response = client.post(f"/admin/jobs/{other}/delete", data=delete)
    assert response.headers["Location"] == back
    assert probe.job(other) is None
    # Bulk actions carry the page too.
    action_form = forms(client.get(back).get_data(as_text=True))["/admin/jobs/action/"]
    assert action_form["url"] == back
    response = client.post(
        "/admin/jobs/action/",
        data={**action_form, "action": "retry", "rowid": [str(failed[0])]},
    )
    assert response.headers["Location"] == back
    # An outside URL is never followed.
    response = client.post(
        f"/admin/jobs/{failed[1]}/retry",
        data={"csrf_token": retry["csrf_token"], "url": "https://evil.example/phish"},
    )
    assert response.headers["Location"] == "/admin/jobs/"
    assert probe.status(failed[1]) == "pending"


def test_row_actions_on_the_detail_page_come_back_to_it_or_to_the_list(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.fail_once", name="from detail")
    auth.login("admin")
    listing = "/admin/jobs/?flt0_status_equals=failed&page_size=25"
    html = client.get(listing).get_data(as_text=True)
    detail_url = html_lib.unescape(
        re.search(rf'href="(/admin/jobs/details/\?id={job_id}[^"]*)"', html).group(1)  # type: ignore[union-attr]
    )
    detail = client.get(detail_url).get_data(as_text=True)
    back_link = re.search(
        r'<a href="([^"]*)" class="small"><span class="fa fa-arrow-left">', detail
    )
    assert back_link and same_url(html_lib.unescape(back_link.group(1)), listing)
    retry = forms(detail)[f"/admin/jobs/{job_id}/retry"]
    response = client.post(f"/admin/jobs/{job_id}/retry", data=retry)
    assert response.headers["Location"] == detail_url
    jobs.work_off()
    assert probe.status(job_id) == "failed"
    detail = client.get(detail_url).get_data(as_text=True)
    delete = forms(detail)[f"/admin/jobs/{job_id}/delete"]
    response = client.post(f"/admin/jobs/{job_id}/delete", data=delete)
    # The detail page is gone with the job: back to the list it was opened from.
    assert same_url(response.headers["Location"], listing)
    assert probe.job(job_id) is None


# -- bulk actions ----------------------------------------------------------------------------


def test_bulk_retry_cancel_delete_report_done_and_skipped(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    failed = finished(jobs, "test.fail_once")
    partial = finished(jobs, "test.items", count=2, fail_every=2)
    completed = finished(jobs, "test.noop")
    cancelled = add(jobs)
    jobs.cancel(cancelled)
    running = add(jobs, "test.slow_cancellable")
    claim(jobs, db)
    pending = add(jobs)
    auth.login("admin")
    csrf = token(client)

    def bulk(action: str, *ids: Any) -> list[tuple[str, str]]:
        response = client.post(
            "/admin/jobs/action/",
            data={"csrf_token": csrf, "action": action, "rowid": [str(i) for i in ids]},
        )
        assert response.status_code == 302
        return flashes(client)

    assert bulk("retry", failed, partial, completed, pending, 999) == [
        ("success", "Queued again 2 jobs."),
        ("warning", f"Skipped 3: #{completed} is completed, #{pending} is pending, #999 not found"),
    ]
    assert probe.status(failed) == probe.status(partial) == "pending"
    assert probe.status(completed) == "completed"

    assert bulk("cancel", failed, running, completed) == [
        ("success", "Cancelled (or asked to stop) 2 jobs."),
        ("warning", f"Skipped 1: #{completed} is completed"),
    ]
    assert probe.status(failed) == "cancelled"
    assert probe.job(running)["cancel_requested"]

    assert bulk("delete", completed, cancelled, failed, running, pending) == [
        ("success", "Deleted 3 jobs."),
        ("warning", f"Skipped 2: #{running} is running, #{pending} is pending"),
    ]
    assert {j["id"] for j in probe.jobs()} == {partial, running, pending}
    assert bulk("delete") == [("warning", "No jobs were selected.")]
    assert bulk("retry", "abc") == [("warning", "Skipped 1: #abc not found")]
    assert probe.group_by_status() == jobs.counts()


def test_bulk_skips_jobs_the_user_may_not_act_on(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checker that refuses some jobs: the bulk action acts on the others only."""
    from host_app import auth as host_auth

    mine = finished(jobs, "test.fail_once", "operator", name="mine")
    locked = finished(jobs, "test.fail_once", "admin", name="locked")

    def check(user: Any, permission: str, job: Any = None) -> bool:
        if job is not None and job.name == "locked" and permission != "view":
            return False
        return host_auth.check_permission(user, permission, job)

    monkeypatch.setattr(jobs.access, "checker", check)
    auth.login("operator")
    client.post(
        "/admin/jobs/action/",
        data={"csrf_token": token(client), "action": "retry", "rowid": [str(mine), str(locked)]},
    )
    assert flashes(client) == [
        ("success", "Queued again 1 job."),
        ("warning", f"Skipped 1: #{locked} not permitted"),
    ]
    assert probe.status(mine) == "pending" and probe.status(locked) == "failed"
    # The per-row button is hidden for it, and the direct POST is refused.
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert f"/admin/jobs/{locked}/retry" not in html
    client.post(f"/admin/jobs/{locked}/retry", data={"csrf_token": token(client)})
    assert flashes(client) == [
        ("error", f"You do not have the 'retry' permission for job {locked}.")
    ]
    assert probe.status(locked) == "failed"


def test_bulk_many_skipped_rows_are_summarised(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    auth.login("admin")
    ids = [str(n) for n in range(1000, 1025)]
    client.post(
        "/admin/jobs/action/", data={"csrf_token": token(client), "action": "delete", "rowid": ids}
    )
    ((category, message),) = flashes(client)
    assert category == "warning"
    assert message.startswith("Skipped 25: #1000 not found, #1001 not found")
    assert message.endswith(" …") and "#1020" not in message


def test_bulk_unknown_action_changes_nothing(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.fail_once")
    auth.login("admin")
    before = probe.snapshot(job_id)
    response = client.post(
        "/admin/jobs/action/",
        data={"csrf_token": token(client), "action": "drop_table", "rowid": [str(job_id)]},
    )
    assert response.status_code == 302
    assert probe.snapshot(job_id) == before


# -- retry failed items ----------------------------------------------------------------------


def test_retry_failed_items_creates_a_linked_job_over_the_failed_items(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    partial = finished(
        jobs, "test.items", "viewer", count=6, fail_every=2, name="Items", reference="R-1"
    )
    assert probe.job(partial)["progress_failed"] == 3
    auth.login("operator")
    detail = client.get(f"/admin/jobs/details/?id={partial}").get_data(as_text=True)
    form = forms(detail)[f"/admin/jobs/{partial}/retry-items"]
    # Each retry says what it reruns (6 items, 3 of them failed).
    assert "Retry all 6 items" in detail and "Retry the 3 failed items" in detail
    client.post(f"/admin/jobs/{partial}/retry-items", data=form)
    new = [j for j in probe.jobs() if j["id"] != partial]
    assert len(new) == 1
    new_job = new[0]
    ((category, message),) = flashes(client)
    assert category == "success"
    assert message.startswith(
        f'Started job <a href="/admin/jobs/details/?id={new_job["id"]}">#{new_job["id"]} '
    )
    assert f"</a> over the failed items of job #{partial}.<span" in message
    assert new_job["retry_of"] == partial
    assert new_job["status"] == "pending"
    assert new_job["type"] == "test.items"
    assert new_job["params"] == {"count": 3, "fail_every": 0, "label": "items"}
    assert new_job["name"] == "Items (failed items)" and new_job["reference"] == "R-1"
    assert new_job["created_by"] == "operator"
    assert probe.status(partial) == "partial"
    (audit,) = probe.events(partial, kind="action")
    assert audit["data"]["items"] == 3 and audit["data"]["job"] == new_job["id"]
    # Both detail pages link to each other.
    detail = client.get(f"/admin/jobs/details/?id={partial}").get_data(as_text=True)
    assert (
        f'<a href="/admin/jobs/details/?id={new_job["id"]}">#{new_job["id"]}</a> (Pending)'
        in detail
    )
    detail = client.get(f"/admin/jobs/details/?id={new_job['id']}").get_data(as_text=True)
    assert f'<a href="/admin/jobs/details/?id={partial}">#{partial} Items</a>' in detail
    jobs.work_off()
    assert probe.status(new_job["id"]) == "completed"


def test_retry_failed_items_refused_without_a_hook_or_when_not_partial(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    no_hook = finished(jobs, "products.import", rows=4, invalid_every=2, supplier="ACME")
    failed = finished(jobs, "test.fail_once")
    assert probe.status(no_hook) == "partial"
    auth.login("admin")
    detail = client.get(f"/admin/jobs/details/?id={no_hook}").get_data(as_text=True)
    assert "retry-items" not in detail
    count = probe.count()
    for job_id, message in (
        (no_hook, "Job type 'products.import' cannot retry only its failed items."),
        (failed, f"Job {failed} is failed: cannot retry its failed items."),
    ):
        before = probe.snapshot(job_id)
        client.post(f"/admin/jobs/{job_id}/retry-items", data={"csrf_token": token(client)})
        assert flashes(client) == [("error", message)]
        assert probe.snapshot(job_id) == before
    assert probe.count() == count


# -- details ---------------------------------------------------------------------------------


def test_details_of_a_partial_job_show_every_section(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(
        jobs,
        "test.items",
        "viewer",
        count=5,
        fail_every=2,
        label="sku",
        name="Export",
        reference="PO-9",
    )
    auth.login("admin")
    html = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert f'data-job-id="{job_id}"' in html
    assert '<span class="text-muted text-monospace">#' + str(job_id) + "</span> Export" in html
    # overview
    overview = re.search(
        r'<table class="table table-sm mb-0 jobs-admin-overview">(.*?)</table>', html, re.S
    )
    assert overview
    labels = re.findall(r'<th scope="row">([^<]+)</th>', overview.group(1))
    assert labels[:4] == ["Type", "Status", "Reference", "Created"]
    assert {"Started", "Finished", "Duration", "Created by", "Attempts", "Worker"} <= set(labels)
    assert "Test: items <code>test.items</code>" in overview.group(1)
    assert "<td>viewer</td>" in overview.group(1)
    assert "<td>1 of 1</td>" in overview.group(1)
    # progress stats: 2 done, 3 failed of 5
    stats = re.search(r'<dl class="row mb-0 mt-3 small jobs-admin-stats">(.*?)</dl>', html, re.S)
    assert stats
    pairs = dict(
        re.findall(r'<dt class="col-6">([^<]+)</dt><dd class="col-6">([^<]*)</dd>', stats.group(1))
    )
    assert pairs["Total items"] == "5" and pairs["Succeeded"] == "2" and pairs["Failed"] == "3"
    assert pairs["Success rate"] == "40.0 %"
    assert pairs["Progress"] == "100.0 %"
    # steps timeline
    assert re.search(
        r'jobs-admin-steps">.*?<span class="fa fa-check text-success" title="done".*?>Counting</a>',
        html,
        re.S,
    )
    # log (two lines, one a warning)
    log = re.search(
        r'<table class="table table-sm mb-0 small jobs-admin-log">(.*?)</table>', html, re.S
    )
    assert log and "counted 5 sku" in log.group(1)
    assert re.search(
        r'<tr class="table-warning">.*?<td>warning</td><td class="w-100">careful</td>',
        log.group(1),
        re.S,
    )
    # failed items
    failed_items = re.search(r'jobs-admin-failed-items">(.*?)</table>', html, re.S)
    assert failed_items
    keys = re.findall(
        r'<td class="text-monospace">([^<]+)</td><td>([^<]+)</td>', failed_items.group(1)
    )
    assert keys == [("sku-0", "bad item"), ("sku-2", "bad item"), ("sku-4", "bad item")]
    assert 'Failed items <span class="badge badge-danger">3</span>' in html
    # params and result JSON
    params = re.search(r'<pre class="mb-0 small jobs-admin-params">(.*?)</pre>', html, re.S)
    assert params and html_lib.unescape(params.group(1)) == (
        '{\n  "count": 5,\n  "fail_every": 2,\n  "label": "sku"\n}'
    )
    result = re.search(r'<pre class="mb-0 small jobs-admin-result">(.*?)</pre>', html, re.S)
    assert result and '"failed": 3' in html_lib.unescape(result.group(1))
    # history (status changes)
    history = re.search(
        r'<ul class="list-group list-group-flush small jobs-admin-history">(.*?)</ul>', html, re.S
    )
    assert history
    lines = [
        re.sub(r"\s+", " ", m).strip()
        for m in re.findall(r'<span class="[^"]*">([^<]+)</span></li>', history.group(1))
    ]
    assert lines[0] == "enqueued" and lines[1].startswith("started attempt 1 of 1 on ")
    assert lines[2:] == ["finished with 3 failed item(s)"]
    # no error section, no download
    assert "jobs-admin-error" not in html.replace("jobs-admin-error-icon", "")
    assert "jobs-admin-download" not in html
    # allowed actions for an admin: retry, retry failed items, delete; no cancel
    actions = set(forms(html))
    assert actions == {
        f"/admin/jobs/{job_id}/retry",
        f"/admin/jobs/{job_id}/retry-items",
        f"/admin/jobs/{job_id}/delete",
    }


def test_details_of_a_failed_job_show_the_error_and_the_stack_trace(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    job_id = finished(jobs, "test.fail_once", name="Broken")
    auth.login("admin")
    html = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert (
        '<pre class="mb-2 text-danger jobs-admin-error-message">ValueError: no luck</pre>' in html
    )
    trace = re.search(
        r'<div class="collapse mt-2" id="jobs-admin-traceback">'
        r'<pre class="small jobs-admin-traceback">(.*?)</pre>',
        html,
        re.S,
    )
    assert trace
    text = html_lib.unescape(trace.group(1))
    assert text.startswith("Traceback (most recent call last):")
    assert 'raise ValueError("no luck")' in text
    assert 'data-target="#jobs-admin-traceback"' in html
    assert "No result." in html


def test_details_history_interleaves_admin_actions_in_time_order(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.fail_once")
    auth.login("operator")
    client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token(client)})
    jobs.work_off()
    assert probe.status(job_id) == "failed"
    html = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    history = re.search(r'jobs-admin-history">(.*?)</ul>', html, re.S)
    assert history
    items = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
        for item in re.findall(r"<li[^>]*>(.*?)</li>", history.group(1), re.S)
    ]
    # Each item starts with its Babel timestamp ("Dec 6, 2026, 2:15:05 PM UTC").
    messages = [re.sub(r"^.*? UTC (action )?", "", i) for i in items]
    retried = messages.index("retried by operator")
    assert messages[0] == "enqueued"
    assert messages[1].startswith("started attempt 1 of 1")
    assert messages[2].startswith("failed: ValueError: no luck")
    assert retried == 3
    assert any(m.startswith("started attempt 2 of 2") for m in messages[retried + 1 :])
    assert "action retried by operator" in items[retried]


def test_details_actions_follow_the_users_permissions(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any
) -> None:
    failed = finished(jobs, "test.fail_once", "viewer")
    pending = add(jobs, "test.noop", "viewer")
    expected = {
        "admin": ({"retry", "delete"}, {"cancel"}),
        "operator": ({"retry"}, {"cancel"}),
        "viewer": (set(), set()),
    }
    for role, (on_failed, on_pending) in expected.items():
        auth.login(role)
        for job_id, wanted in ((failed, on_failed), (pending, on_pending)):
            html = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
            assert f'data-job-id="{job_id}"' in html
            shown = {a.rsplit("/", 1)[1] for a in forms(html)}
            assert shown == wanted, (role, job_id)
        auth.logout()


@pytest.mark.parametrize("job_id", ["999", "abc", "", "-1", "1.5", "0", "9" * 25])
def test_details_of_a_missing_job_flash_and_go_back(
    job_id: str, app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    add(jobs)
    auth.login("admin")
    response = client.get(f"/admin/jobs/details/?id={job_id}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/jobs/"
    assert flashes(client) == [("error", "That job does not exist or you may not see it.")]


def test_details_show_pending_run_at_and_running_progress(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    running = add(jobs, "test.items", count=10)
    claim(jobs, db)
    started = utcnow() - timedelta(minutes=2)
    probe.update(running, phase="Counting", progress_total=10, progress_done=4, started_at=started)
    later = add(jobs)
    probe.update(later, run_at=utcnow() + timedelta(hours=2))
    auth.login("admin")
    html = client.get(f"/admin/jobs/details/?id={running}").get_data(as_text=True)
    assert '<span class="jobs-admin-phase">Counting</span>' in html
    stats = dict(re.findall(r'<dt class="col-6">([^<]+)</dt><dd class="col-6">([^<]*)</dd>', html))
    assert stats["Progress"] == "40.0 %"
    assert stats["Items per minute"] != "—" and stats["Estimated time left"] != "—"
    assert "No result yet." in html
    html = client.get(f"/admin/jobs/details/?id={later}").get_data(as_text=True)
    assert re.search(r'<th scope="row">Runs at</th><td><time [^>]*>in 2 hr\.</time>', html)


# -- downloads -------------------------------------------------------------------------------


def test_download_sends_the_result_file_and_refuses_anything_else(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.result_file", filename="report 1.txt")
    plain = finished(jobs, "test.noop")
    auth.login("admin")
    detail = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert f'href="/admin/jobs/{job_id}/download" id="jobs-admin-download"' in detail
    assert "Download report_1.txt" in detail
    with client.get(f"/admin/jobs/{job_id}/download") as response:
        assert response.status_code == 200
        assert response.get_data(as_text=True) == f"job {job_id}\n"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "report_1.txt" in response.headers["Content-Disposition"]

    client.get(f"/admin/jobs/{plain}/download")
    assert flashes(client) == [("error", "That job has no result file you may download.")]
    # A result file outside the results folder is never served.
    secret = results_dir(jobs).parent / "secret.txt"
    secret.write_text("secret")
    probe.update(plain, result_file="../secret.txt")
    response = client.get(f"/admin/jobs/{plain}/download")
    assert response.status_code == 302 and b"secret" not in response.data
    assert flashes(client) == [("error", f"The result file of job {plain} is missing.")]
    # A file removed from disk.
    (results_dir(jobs) / probe.job(job_id)["result_file"]).unlink()
    response = client.get(f"/admin/jobs/{job_id}/download")
    assert response.status_code == 302
    assert flashes(client) == [("error", f"The result file of job {job_id} is missing.")]


# -- clear old jobs --------------------------------------------------------------------------


def test_prune_enqueues_a_prune_job_that_deletes_only_finished_jobs_older_than_the_cutoff(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    now = utcnow()
    old_done = finished(jobs, "test.result_file")
    old_failed = finished(jobs, "test.fail_once")
    recent = finished(jobs, "test.noop")
    created_long_ago = finished(jobs, "test.noop")  # created 90 days ago, finished 10 days ago
    old_pending = add(jobs)
    old_running = add(jobs)
    claim(jobs, db)
    for job_id in (old_done, old_failed):
        probe.update(
            job_id, created_at=now - timedelta(days=45), finished_at=now - timedelta(days=40)
        )
    probe.update(
        created_long_ago, created_at=now - timedelta(days=90), finished_at=now - timedelta(days=10)
    )
    for job_id in (old_pending, old_running):
        probe.update(job_id, created_at=now - timedelta(days=90))
    old_file = results_dir(jobs) / probe.job(old_done)["result_file"]
    assert old_file.is_file()
    before = {j["id"] for j in probe.jobs()}
    auth.login("admin")
    html = client.get("/admin/jobs/?flt0_status_equals=completed").get_data(as_text=True)
    modal = forms(html)["/admin/jobs/prune"]
    assert re.search(r'name="days" value="30"', html)
    assert same_url(modal["url"], "/admin/jobs/?flt0_status_equals=completed&page_size=25")
    response = client.post("/admin/jobs/prune", data={**modal, "days": "30"})
    assert response.headers["Location"] == modal["url"]

    # The request deleted nothing: it queued a built-in prune job and linked it.
    (prune,) = [j for j in probe.jobs() if j["id"] not in before]
    assert {j["id"] for j in probe.jobs()} == before | {prune["id"]}
    assert (prune["type"], prune["status"], prune["params"]) == (
        "jobs_admin.prune",
        "pending",
        {"days": 30},
    )
    assert (prune["created_by"], prune["name"]) == (
        "admin",
        "Clear jobs finished over 30 days ago",
    )
    link = f'<a href="/admin/jobs/details/?id={prune["id"]}">#{prune["id"]}</a>'
    assert flashes(client) == [
        ("success", f"Clearing finished jobs older than 30 days in job {link}.")
    ]
    assert old_file.is_file()
    # It shows in the list like any other job.
    listed = client.get("/admin/jobs/?flt0_type_equals=jobs_admin.prune").get_data(as_text=True)
    assert rows(listed) == [prune["id"]] and "Clear jobs finished over 30 days ago" in listed

    assert jobs.work_off() == 1
    done = probe.job(prune["id"])
    assert done["status"] == "completed"
    assert done["result"] == {"deleted": 2, "days": 30}
    assert (done["progress_done"], done["progress_total"]) == (2, 2)
    assert {j["id"] for j in probe.jobs()} == {
        recent,
        created_long_ago,
        old_pending,
        old_running,
        prune["id"],
    }
    assert not old_file.exists()
    assert probe.events(old_done) == [] and probe.events(old_failed) == []
    assert probe.group_by_status() == jobs.counts()
    # A smaller cut-off reaches further (the first prune job with it, being finished now);
    # active jobs are never pruned, nor the running prune itself.
    client.post("/admin/jobs/prune", data={**modal, "days": "0"})
    flashes(client)
    assert jobs.work_off() == 1
    (second,) = probe.jobs(type="jobs_admin.prune")
    assert second["result"] == {"deleted": 3, "days": 0}
    assert {j["id"] for j in probe.jobs()} == {old_pending, old_running, second["id"]}


@pytest.mark.app_config(JOBS_ADMIN_RETENTION_DAYS=7)
def test_prune_default_days_come_from_the_retention_setting(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    auth.login("admin")
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert re.search(r'id="jobs-admin-prune-days" name="days" value="7"', html)


@pytest.mark.parametrize("days", ["", "abc", "-1", "1.5", "36501"])
def test_prune_invalid_days_delete_nothing(
    days: str, app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = finished(jobs, "test.noop")
    probe.update(job_id, finished_at=utcnow() - timedelta(days=400))
    auth.login("admin")
    before = probe.snapshot(job_id)
    client.post("/admin/jobs/prune", data={"csrf_token": token(client), "days": days})
    ((category, message),) = flashes(client)
    assert category == "error" and message.startswith("Nothing was deleted: days: ")
    assert probe.snapshot(job_id) == before


# -- run form --------------------------------------------------------------------------------


def test_run_form_lists_types_and_starts_a_job_from_its_params(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    auth.login("operator")
    html = client.get("/admin/jobs/new").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"', html)
    # Every host type; a built-in one starts from its own control, not the run form.
    # Built-in types (jobs_admin.prune, jobs_admin.failure_group) are not offered.
    assert set(options) == {t.name for t in jobs.registry if not t.builtin}
    assert 'id="jobs-admin-run-form"' not in html
    page = client.get("/admin/jobs/new?type=jobs_admin.prune").get_data(as_text=True)
    assert "You may not run &#39;Clear old jobs&#39; jobs." in page
    assert 'id="jobs-admin-run-form"' not in page
    html = client.get("/admin/jobs/new?type=test.items").get_data(as_text=True)
    assert '<option value="test.items" selected>' in html
    fields = set(
        re.findall(r'<input[^>]*name="([^"]+)"', html.split('id="jobs-admin-run-form"')[1])
    )
    options = {"job-name", "job-reference", "job-priority", "job-run_at", "job-timezone"}
    assert fields == {"csrf_token", "count", "fail_every", "label"} | options
    form = forms(html)["/admin/jobs/new?type=test.items"]
    response = client.post(
        "/admin/jobs/new?type=test.items",
        data={**form, "count": "3", "fail_every": "", "label": "rows"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/jobs/"
    (job,) = probe.jobs()
    assert job["type"] == "test.items" and job["status"] == "pending"
    assert job["params"] == {"count": 3, "fail_every": None, "label": "rows"}
    assert job["created_by"] == "operator" and job["name"] == "Test: items"
    ((category, message),) = flashes(client)
    assert category == "success"
    assert message.startswith(
        f'Started job <a href="/admin/jobs/details/?id={job["id"]}">#{job["id"]} Test: items</a>.'
    )
    assert f'data-state="/admin/jobs/{job["id"]}/state.json"' in message
    jobs.work_off()
    assert probe.status(job["id"]) == "completed"


@pytest.mark.parametrize(
    ("values", "field", "error"),
    [
        ({"count": "abc"}, "count", "Not a valid integer value."),
        ({"count": ""}, "count", "This field is required."),
        ({"count": "-5"}, "count", "Number must be between 0 and 100000."),
        ({"count": "3", "fail_every": "-1"}, "fail_every", "Number must be at least 0."),
    ],
)
def test_run_form_invalid_params_show_field_errors_and_create_nothing(
    values: dict[str, str],
    field: str,
    error: str,
    app: Any,
    client: Any,
    auth: Any,
    jobs: Any,
    probe: Any,
) -> None:
    auth.login("admin")
    html = client.get("/admin/jobs/new?type=test.items").get_data(as_text=True)
    form = forms(html)["/admin/jobs/new?type=test.items"]
    response = client.post("/admin/jobs/new?type=test.items", data={**form, "label": "x", **values})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<div class="invalid-feedback d-block">{html_lib.escape(error)}</div>' in page
    assert re.search(rf'<input class="form-control is-invalid" id="{field}"', page)
    assert probe.count() == 0


def test_run_form_types_without_params_and_unknown_types(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    auth.login("admin")
    html = client.get("/admin/jobs/new?type=test.noop").get_data(as_text=True)
    assert "This job type takes no parameters." in html
    form = forms(html)["/admin/jobs/new?type=test.noop"]
    client.post("/admin/jobs/new?type=test.noop", data=form)
    (job,) = probe.jobs()
    assert job["type"] == "test.noop" and job["params"] == {}
    flashes(client)
    response = client.post("/admin/jobs/new?type=no.such", data=form)
    assert response.status_code == 200
    assert "Unknown job type &#39;no.such&#39;." in response.get_data(as_text=True)
    assert probe.count() == 1


def _run_form_refuses_nul(client: Any, jobs: Any, probe: Any) -> None:
    from tests.conftest import AuthActions

    AuthActions(client).login("admin")
    html = client.get("/admin/jobs/new?type=test.items").get_data(as_text=True)
    form = forms(html)["/admin/jobs/new?type=test.items"]
    response = client.post(
        "/admin/jobs/new?type=test.items",
        data={**form, "count": "3", "label": "secret-value\x00tail"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    error = "contains NUL (U+0000), which the database cannot store"
    assert f'<div class="invalid-feedback d-block">{error}</div>' in page
    assert re.search(r'<input class="form-control is-invalid" id="label"', page)
    assert "label: " + error in html_lib.unescape(page)  # the flashed summary names the param
    # Only the field itself holds what was typed; no message echoes it.
    assert page.count("secret-value") == 1
    assert probe.count() == 0
    # The same form without the NUL starts the job.
    client.post("/admin/jobs/new?type=test.items", data={**form, "count": "3", "label": "ok"})
    (job,) = probe.jobs()
    assert job["params"]["label"] == "ok"


def test_run_form_refuses_a_nul_character_with_a_field_error(
    app: Any, client: Any, jobs: Any, probe: Any
) -> None:
    _run_form_refuses_nul(client, jobs, probe)


@pytest.mark.postgres
def test_run_form_refuses_a_nul_character_on_postgresql(pg_app: Any, jobs: Any, probe: Any) -> None:
    with pg_app.app_context():
        _run_form_refuses_nul(pg_app.test_client(), jobs, probe)


def test_download_of_a_stored_name_with_control_characters_is_no_500(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    crlf = finished(jobs, "test.noop")
    nul = finished(jobs, "test.noop")
    folder = results_dir(jobs) / str(crlf)
    folder.mkdir(parents=True)
    (folder / "a\r\nb.csv").write_text("x,y\n")
    # Stored by a version that let the name through (or written to the column directly).
    probe.update(crlf, result_file=f"{crlf}/a\r\nb.csv")
    # SQLite holds a NUL (no file name can); PostgreSQL's text cannot, so it never gets one.
    sqlite = jobs.db.engine.dialect.name == "sqlite"
    if sqlite:
        probe.update(nul, result_file=f"{nul}/a\x00b.csv")
    auth.login("admin")
    with client.get(f"/admin/jobs/{crlf}/download") as response:
        assert response.status_code == 200
        assert response.get_data(as_text=True) == "x,y\n"
        disposition = response.headers["Content-Disposition"]
    assert disposition == "attachment; filename=a_b.csv"
    if not sqlite:
        return
    response = client.get(f"/admin/jobs/{nul}/download")
    assert response.status_code == 302
    assert flashes(client) == [("error", f"The result file of job {nul} is missing.")]


@pytest.mark.parametrize("action", ["retry", "cancel", "delete", "retry-items", "bulk"])
def test_row_action_on_a_job_deleted_in_between_flashes(
    app: Any,
    client: Any,
    auth: Any,
    jobs: Any,
    db: Any,
    probe: Any,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
) -> None:
    """Another admin deletes the job after the view loaded it and before it acts: the action
    answers with a flash and changes nothing, never a 500."""
    from jobs_admin.admin.views import JobView

    job_id = finished(jobs, "test.items", count=2, fail_every=2)  # partial: every action fits
    other = finished(jobs, "test.noop")
    auth.login("admin")
    csrf = token(client)
    load = JobView.get_one

    def get_one_then_gone(self: Any, id: Any) -> Any:
        job = load(self, id)
        if job is not None and job.id == job_id:
            with db.engine.begin() as conn:  # another connection: another admin's request
                jobs.store.delete(conn, job_id)
        return job

    monkeypatch.setattr(JobView, "get_one", get_one_then_gone)
    if action == "bulk":
        response = client.post(
            "/admin/jobs/action/",
            data={"csrf_token": csrf, "action": "retry", "rowid": [str(job_id), str(other)]},
        )
        expected = [("warning", f"Skipped 2: #{job_id} no longer exists, #{other} is completed")]
    else:
        response = client.post(f"/admin/jobs/{job_id}/{action}", data={"csrf_token": csrf})
        expected = [("error", f"Job {job_id} does not exist.")]
    assert response.status_code == 302
    assert flashes(client) == expected
    assert probe.job(job_id) is None
    assert probe.status(other) == "completed"
    assert probe.group_by_status() == jobs.counts()
