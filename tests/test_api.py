"""The JSON API under the jobs view: ``api/jobs``, ``api/jobs/<id>``, ``api/counts``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from host_app.extensions import db as host_db
from host_app.models import User
from tests.test_admin_visibility import row_ids


def add(jobs: Any, job_type: str = "test.noop", by: str = "operator", **kw: Any) -> int:
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **kw).id)


def api(client: Any, path: str, expect: int = 200, **args: Any) -> Any:
    response = client.get(f"/admin/jobs/api/{path}", query_string=args)
    assert response.status_code == expect, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()


def ids(body: dict[str, Any]) -> list[int]:
    return [job["id"] for job in body["jobs"]]


@pytest.fixture
def history(app: Any, jobs: Any) -> dict[str, int]:
    """Jobs of three users in several statuses, types and references."""
    with app.app_context():
        made = {
            "op_done": add(jobs, "test.noop", "operator", reference="export-profile:1"),
            "op_fail": add(jobs, "test.fail_once", "operator", reference="export-profile:1"),
            "op_items": add(jobs, "test.items", "operator", count=3, name="Items 12345"),
            "viewer_done": add(jobs, "test.noop", "viewer", reference="export-profile:2"),
            "viewer_fail": add(jobs, "test.fail_once", "viewer"),
            "admin_done": add(jobs, "test.noop", "admin", name="Nightly 12345"),
        }
        jobs.work_off()
        made["op_pending"] = add(jobs, "test.noop", "operator", reference="export-profile:1")
        made["viewer_pending"] = add(jobs, "test.echo", "viewer")
    return made


def test_api_jobs_without_login_is_401_json(app: Any, client: Any) -> None:
    body = api(client, "jobs", 401)
    assert body["error"]["status"] == 401
    assert "sign in" in body["error"]["message"]
    assert api(client, "counts", 401)["error"]["status"] == 401
    assert api(client, "jobs/1", 401)["error"]["status"] == 401


def test_api_jobs_without_view_is_403_json(app: Any, client: Any, auth: Any) -> None:
    with app.app_context():
        guest = User(username="guest", email="guest@shop.example", role="guest")
        guest.set_password("guest")
        host_db.session.add(guest)
        host_db.session.commit()
    auth.login("guest")
    body = api(client, "jobs", 403)
    assert body["error"] == {"status": 403, "message": "the 'view' permission is needed"}
    assert api(client, "counts", 403)["error"]["status"] == 403


def test_api_jobs_viewer_sees_only_own_jobs(
    app: Any, client: Any, auth: Any, history: dict[str, int]
) -> None:
    auth.login("viewer")
    body = api(client, "jobs")
    assert set(ids(body)) == {
        history["viewer_done"],
        history["viewer_fail"],
        history["viewer_pending"],
    }
    # Asking for someone else's jobs gives none, not theirs.
    assert ids(api(client, "jobs", created_by="operator")) == []
    assert api(client, f"jobs/{history['op_done']}", 404)["error"]["status"] == 404


def test_api_jobs_fields_are_complete_and_utc(
    app: Any, client: Any, auth: Any, history: dict[str, int]
) -> None:
    auth.login("admin")
    body = api(client, "jobs", reference="export-profile:1", status="failed")
    (job,) = body["jobs"]
    assert job["id"] == history["op_fail"]
    assert job["type"] == "test.fail_once"
    assert job["title"] == "Test: fail once"
    assert job["reference"] == "export-profile:1"
    assert job["status"] == "failed"
    assert job["progress"] == {"done": 0, "failed": 0, "total": None}
    assert job["created_by"] == "operator"
    assert job["error"] and "no luck" in job["error"]
    assert "traceback" not in job
    assert job["url"] == f"/admin/jobs/details/?id={history['op_fail']}"
    for key in ("created_at", "started_at", "finished_at"):
        assert dt.datetime.fromisoformat(job[key]).utcoffset() == dt.timedelta(0)
    assert body["next"] is None


def test_api_jobs_newest_first_and_cursor_pages_through_everything(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    with app.app_context():
        made = [add(jobs) for _ in range(7)]
    auth.login("admin")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        args = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        body = api(client, "jobs", **args)
        seen.extend(ids(body))
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)
    assert pages == 3


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ({"status": "finished"}, "status"),
        ({"type": "no.such"}, "type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_by": "x" * 201}, "created_by"),
        ({"reference": "a\x00b"}, "reference"),
        ({"stauts": "failed"}, "stauts"),
    ],
)
def test_api_jobs_bad_argument_is_400_naming_it(
    app: Any, client: Any, auth: Any, args: dict[str, str], argument: str
) -> None:
    auth.login("admin")
    body = api(client, "jobs", 400, **args)
    assert body["error"]["argument"] == argument
    assert body["error"]["message"].startswith(f"{argument}: ")
    assert len(body["error"]["message"]) < 200


def test_api_job_bad_id_is_400(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin")
    assert api(client, "jobs/abc", 400)["error"]["argument"] == "id"
    assert api(client, f"jobs/{2**64}", 400)["error"]["argument"] == "id"


@pytest.mark.parametrize(
    ("api_args", "list_args"),
    [
        ({}, {}),
        ({"status": "failed"}, {"flt0_status_equals": "failed"}),
        ({"status": "completed"}, {"flt0_status_equals": "completed"}),
        ({"type": "test.noop"}, {"flt0_type_equals": "test.noop"}),
        ({"created_by": "viewer"}, {"flt0_created_by_equals": "viewer"}),
        (
            {"status": "pending", "created_by": "operator"},
            {"flt0_status_equals": "pending", "flt1_created_by_equals": "operator"},
        ),
        ({"search": "12345"}, {"search": "12345"}),
        ({"search": "export-profile:1"}, {"search": "export-profile:1"}),
    ],
)
@pytest.mark.parametrize("user", ["admin", "viewer"])
def test_api_jobs_filters_match_the_list_page(
    app: Any,
    client: Any,
    auth: Any,
    history: dict[str, int],
    user: str,
    api_args: dict[str, str],
    list_args: dict[str, str],
) -> None:
    auth.login(user)
    page = client.get("/admin/jobs/", query_string=list_args)
    assert page.status_code == 200
    listed = row_ids(page.get_data(as_text=True))
    found = ids(api(client, "jobs", **api_args))
    assert set(found) == listed
    assert found == sorted(found, reverse=True)


def test_api_jobs_reference_and_date_filters(
    app: Any, client: Any, auth: Any, history: dict[str, int]
) -> None:
    auth.login("admin")
    by_ref = ids(api(client, "jobs", reference="export-profile:1"))
    assert by_ref == [history["op_pending"], history["op_fail"], history["op_done"]]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    assert ids(api(client, "jobs", created_after=later)) == []
    assert len(ids(api(client, "jobs", created_before=later))) == len(history)
    types = ids(api(client, "jobs", type="test.echo,test.items"))
    assert set(types) == {history["viewer_pending"], history["op_items"]}


def test_api_job_detail_has_steps_logs_and_traceback_only_for_view_all(
    app: Any, client: Any, auth: Any, history: dict[str, int]
) -> None:
    auth.login("operator")
    job = api(client, f"jobs/{history['op_items']}")
    assert job["status"] == "completed"
    assert job["progress"] == {"done": 3, "failed": 0, "total": 3}
    assert [s["name"] for s in job["steps"]] == ["Counting"]
    assert [line["message"] for line in job["logs"]][:2] == ["counted 3 items", "careful"]
    assert job["logs_total"] == 2
    assert job["params"]["count"] == 3
    failed = api(client, f"jobs/{history['op_fail']}")
    assert failed["traceback"] and "ValueError" in failed["traceback"]

    auth.logout()
    auth.login("viewer")
    own = api(client, f"jobs/{history['viewer_fail']}")
    assert own["error"] and "no luck" in own["error"]
    assert "traceback" not in own


def test_api_counts_are_the_tiles_and_own_jobs(
    app: Any, client: Any, auth: Any, history: dict[str, int]
) -> None:
    auth.login("operator")
    body = api(client, "counts")
    assert body["counts"]["total"] == len(history)
    assert body["counts"]["failed"] == 2
    assert body["mine"]["total"] == 4
    assert body["mine"]["pending"] == 1
    assert body["user"] == "operator"
    auth.logout()
    auth.login("viewer")
    body = api(client, "counts")
    assert body["counts"] == body["mine"]
    assert body["counts"]["total"] == 3


def test_api_and_panel_apply_the_hosts_visible_jobs_condition(
    app: Any, client: Any, auth: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        shown = add(jobs, name="shown", reference="order:1")
        add(jobs, name="secret", reference="order:1")
    monkeypatch.setattr(jobs.access, "visible", lambda user: jobs.Job.name != "secret")
    auth.login("admin")
    assert ids(api(client, "jobs")) == [shown]
    assert ids(api(client, "jobs", reference="order:1")) == [shown]
    fragment = client.get("/admin/jobs/panel?reference=order:1").get_data(as_text=True)
    assert 'data-jobs-admin-panel-job="' + str(shown) + '"' in fragment
    assert fragment.count("data-jobs-admin-panel-job=") == 1
    assert api(client, "counts")["counts"]["total"] == 1
