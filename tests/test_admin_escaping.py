"""Admin panel: hostile job data (names, references, errors, params, logs, item keys, users) is
escaped wherever the list and the detail page show it, and in the flashes that echo input.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

# -- speed: the suite builds a fresh app per test -----------------------------------------------


# -- helpers ---------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
#: What must never reach a page unescaped.
RAW = (SCRIPT, "<img src=x", "onerror=alert(1)>", '"><img')
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"


def assert_escaped(html: str, *, expect: int = 1) -> None:
    """No hostile markup in ``html``, and its escaped form shown at least ``expect`` times."""
    for raw in RAW:
        assert raw not in html, f"unescaped {raw!r} in the page"
    shown = html.count(ESCAPED_SCRIPT) + html.count(ESCAPED_IMG)
    shown += html.count("&lt;script&gt;") + html.count("&lt;img")
    assert shown >= expect, "the hostile values are not shown at all"


def add(jobs: Any, job_type: str, by: str = "admin", **kw: Any) -> int:
    options = {k: kw.pop(k) for k in ("name", "reference") if k in kw}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, **kw).id)


@pytest.fixture
def hostile(jobs: Any, db: Any, probe: Any) -> dict[str, int]:
    """Jobs whose every free-text field is hostile."""
    ids = {
        "failed": add(jobs, "test.fail_once", name=SCRIPT, reference=IMG),
        "partial": add(
            jobs, "test.items", name=IMG, reference=SCRIPT, count=4, fail_every=2, label=SCRIPT
        ),
        "echo": add(jobs, "test.echo", by=SCRIPT, name=f"echo {IMG}", note=SCRIPT, other=IMG),
    }
    jobs.work_off()
    # test.fail_once raises ValueError("no luck"): give it a hostile error and trace.
    probe.update(
        ids["failed"],
        error=f"ValueError: {SCRIPT}",
        traceback=f'Traceback (most recent call last):\n  File "{IMG}"\nValueError: {SCRIPT}',
        message=IMG,
    )
    ids["running"] = add(jobs, "test.items", name=SCRIPT, count=3)
    with db.engine.begin() as conn:
        jobs.store.claim(conn, "test-host:1:admin", 10)
    probe.update(ids["running"], phase=SCRIPT, message=IMG)
    with db.engine.begin() as conn:
        jobs.store.add_events(
            conn,
            [
                {"job_id": ids["running"], "kind": "step", "level": "info", "message": IMG},
                {"job_id": ids["running"], "kind": "log", "level": "error", "message": SCRIPT},
                {
                    "job_id": ids["running"],
                    "kind": "item_failed",
                    "level": "warning",
                    "message": IMG,
                    "data": {"key": SCRIPT},
                },
                {
                    "job_id": ids["running"],
                    "kind": "action",
                    "level": "info",
                    "message": f"cancel requested by {SCRIPT}",
                },
            ],
        )
    return ids


# -- tests -----------------------------------------------------------------------------------


def test_escaping_list_page(app: Any, client: Any, auth: Any, hostile: dict[str, int]) -> None:
    auth.login("admin")
    html = client.get("/admin/jobs/").get_data(as_text=True)
    # names, references, the error tooltip, the phase, the creator
    assert_escaped(html, expect=6)
    assert f'title="ValueError: {ESCAPED_SCRIPT}"' in html
    assert f'<div class="small text-muted jobs-admin-phase">{ESCAPED_SCRIPT}</div>' in html
    # Filtered and searched pages echo the hostile search term escaped.
    html = client.get(f"/admin/jobs/?search={quote(SCRIPT)}").get_data(as_text=True)
    assert_escaped(html)
    assert f'value="{ESCAPED_SCRIPT}"' in html
    html = client.get(f"/admin/jobs/?flt0_created_by_equals={quote(SCRIPT)}").get_data(as_text=True)
    assert_escaped(html)
    assert re.search(r'class="nav-link active">List \(1\)<', html)


def test_escaping_detail_pages(
    app: Any, client: Any, auth: Any, hostile: dict[str, int], jobs: Any
) -> None:
    auth.login("admin")
    for kind, job_id in hostile.items():
        html = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
        assert f'data-job-id="{job_id}"' in html, kind
        assert_escaped(html, expect=2)
    failed = client.get(f"/admin/jobs/details/?id={hostile['failed']}").get_data(as_text=True)
    assert f'jobs-admin-error-message">ValueError: {ESCAPED_SCRIPT}</pre>' in failed
    assert f"File &#34;{ESCAPED_IMG}&#34;" in failed
    assert f'<div class="text-muted jobs-admin-message">{ESCAPED_IMG}</div>' in failed
    partial = client.get(f"/admin/jobs/details/?id={hostile['partial']}").get_data(as_text=True)
    # failed item keys and log lines made from the hostile label; params/result JSON
    assert f'<td class="text-monospace">{ESCAPED_SCRIPT}-0</td>' in partial
    assert f"counted 4 {ESCAPED_SCRIPT}" in partial
    assert f"&#34;label&#34;: &#34;{ESCAPED_SCRIPT}&#34;" in partial
    echo = client.get(f"/admin/jobs/details/?id={hostile['echo']}").get_data(as_text=True)
    assert echo.count("&lt;script&gt;") >= 3  # created by, params, result
    running = client.get(f"/admin/jobs/details/?id={hostile['running']}").get_data(as_text=True)
    for where in ("jobs-admin-steps", "jobs-admin-log", "jobs-admin-failed-items"):
        section = running.split(where, 1)[1][:3000]
        assert "&lt;" in section and "<script>" not in section, where
    assert f"cancel requested by {ESCAPED_SCRIPT}" in running


def test_escaping_flashes_that_echo_input(
    app: Any, client: Any, auth: Any, hostile: dict[str, int]
) -> None:
    auth.login("admin")
    # An invalid filter value is echoed in the flash.
    html = client.get(f"/admin/jobs/?flt0_status_equals={quote(SCRIPT)}").get_data(as_text=True)
    assert "Invalid value " in html
    assert_escaped(html)
    # A bulk action over hostile row ids.
    page = client.get("/admin/jobs/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post(
        "/admin/jobs/action/", data={"csrf_token": token, "action": "retry", "rowid": [SCRIPT]}
    )
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert f"#{ESCAPED_SCRIPT} not found" in html
    assert_escaped(html)
    # An unknown job type on the run form.
    html = client.get(f"/admin/jobs/new?type={quote(SCRIPT)}").get_data(as_text=True)
    assert "Unknown job type" in html
    assert_escaped(html)
    # Retry failed items links to the new job; the hostile name is not part of the markup.
    client.post(f"/admin/jobs/{hostile['partial']}/retry-items", data={"csrf_token": token})
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert re.search(r'Started job <a href="/admin/jobs/details/\?id=\d+">#\d+ [^<]*</a>', html)
    assert_escaped(html)
