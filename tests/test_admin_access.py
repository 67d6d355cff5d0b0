"""Admin panel: every route x every demo role (and anonymous), and CSRF on every POST.

A refused request must change nothing: each refusal compares the whole jobs state (rows, events,
counters, result files) before and after.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import current_app

from jobs_admin.models import utcnow
from tests.support import login

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# -- speed: the suite builds a fresh app per test -----------------------------------------------


# -- helpers ---------------------------------------------------------------------------------


@dataclass
class World:
    """Jobs of admin and viewer in the states the routes act on (ids)."""

    failed_admin: int
    partial_admin: int
    file_admin: int
    old_admin: int
    pending_admin: int
    failed_viewer: int
    file_viewer: int
    pending_viewer: int
    #: a cancelled built-in prune of admin's: retrying it needs ``prune`` as well as ``retry``
    cancelled_prune: int


def build_world(jobs: Any, probe: Any) -> World:
    def add(job_type: str, by: str, **params: Any) -> int:
        return int(jobs.enqueue(job_type, created_by=by, commit=True, **params).id)

    failed_admin = add("test.fail_once", "admin")
    partial_admin = add("test.items", "admin", count=4, fail_every=2)
    file_admin = add("test.result_file", "admin")
    old_admin = add("test.noop", "admin")
    failed_viewer = add("test.fail_once", "viewer")
    file_viewer = add("test.result_file", "viewer")
    jobs.work_off()
    long_ago = utcnow() - timedelta(days=60)
    probe.update(old_admin, created_at=long_ago, started_at=long_ago, finished_at=long_ago)
    world = World(
        failed_admin=failed_admin,
        partial_admin=partial_admin,
        file_admin=file_admin,
        old_admin=old_admin,
        pending_admin=add("test.noop", "admin"),
        failed_viewer=failed_viewer,
        file_viewer=file_viewer,
        pending_viewer=add("test.noop", "viewer"),
        cancelled_prune=add("jobs_admin.prune", "admin", days=30),
    )
    jobs.cancel(world.cancelled_prune)
    assert [probe.status(i) for i in (failed_admin, partial_admin, file_admin)] == [
        "failed",
        "partial",
        "completed",
    ]
    return world


def state(probe: Any, results: Path) -> tuple[Any, ...]:
    """Everything a refused request must leave unchanged."""
    files = sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file())
    return probe.jobs(), probe.events(), probe.counter_rows(), files


def token_of(html: str) -> str:
    match = TOKEN_RE.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def login_with_token(client: Any, auth: Any, role: str) -> str:
    """Log ``client`` in as ``role`` (or stay anonymous) holding a valid CSRF token.

    The token is one of the session the requests below are made in (signing in starts a new
    session, with a new CSRF secret), so that a refusal is about the permission, never about
    the token.
    """
    if role != "anonymous":
        response = auth.login(role)
        assert response.status_code == 302, f"login as {role} failed"
    return str(auth.csrf_token())


def listed(html: str) -> int:
    """The match count the list's tab shows ("List (3)"; just "List" for none)."""
    match = re.search(r'class="nav-link active">List(?: \(([\d,]+)\))?<', html)
    assert match, "not a list page"
    return int((match.group(1) or "0").replace(",", ""))


def flashes(client: Any) -> list[tuple[str, str]]:
    """The flashed (category, message) pairs not yet shown, consuming them."""
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


# -- the matrix ------------------------------------------------------------------------------


@dataclass
class Route:
    method: str
    url: Callable[[World], str]
    data: Callable[[World], dict[str, Any]] | None = None
    #: the job the route acts on (its visibility decides a viewer's refusal message)
    job: Callable[[World], int] | None = None
    permission: str | None = None


def _row(action: str, job: str, permission: str | None = None) -> Route:
    return Route(
        "POST",
        lambda w: f"/admin/jobs/{getattr(w, job)}/{action}",
        lambda w: {},
        lambda w: getattr(w, job),
        permission or action,
    )


def _bulk(action: str, *jobs: str) -> Route:
    return Route(
        "POST",
        lambda w: "/admin/jobs/action/",
        lambda w: {"action": action, "rowid": [str(getattr(w, n)) for n in jobs]},
        permission=action,
    )


def _get(url: Callable[[World], str], job: str | None = None) -> Route:
    return Route("GET", url, job=(lambda w: getattr(w, job)) if job else None)


ROUTES: dict[str, Route] = {
    "list": _get(lambda w: "/admin/jobs/"),
    "details": _get(lambda w: f"/admin/jobs/details/?id={w.failed_admin}", "failed_admin"),
    "details_own": _get(lambda w: f"/admin/jobs/details/?id={w.failed_viewer}", "failed_viewer"),
    "retry": _row("retry", "failed_admin"),
    "retry_own": _row("retry", "failed_viewer"),
    "retry_items": _row("retry-items", "partial_admin", "retry"),
    "retry_prune": _row("retry", "cancelled_prune"),
    "cancel": _row("cancel", "pending_admin"),
    "cancel_own": _row("cancel", "pending_viewer"),
    "delete": _row("delete", "failed_admin"),
    "delete_own": _row("delete", "failed_viewer"),
    "bulk_retry": _bulk("retry", "failed_admin", "failed_viewer"),
    "bulk_cancel": _bulk("cancel", "pending_admin", "pending_viewer"),
    "bulk_delete": _bulk("delete", "failed_admin", "file_viewer"),
    "download": _get(lambda w: f"/admin/jobs/{w.file_admin}/download", "file_admin"),
    "download_own": _get(lambda w: f"/admin/jobs/{w.file_viewer}/download", "file_viewer"),
    "export": _get(lambda w: "/admin/jobs/export.csv"),
    "prune": Route("POST", lambda w: "/admin/jobs/prune", lambda w: {"days": "30"}),
    "new_get": _get(lambda w: "/admin/jobs/new?type=test.noop"),
    "new_post": Route("POST", lambda w: "/admin/jobs/new?type=test.noop", lambda w: {}),
}
ALL = frozenset(ROUTES)
ALLOWED: dict[str, frozenset[str]] = {
    "admin": ALL,
    "operator": ALL - {"delete", "delete_own", "bulk_delete", "prune", "retry_prune"},
    "viewer": frozenset({"list", "details_own", "download_own"}),
    "anonymous": frozenset(),
}
ROLES = tuple(ALLOWED)


def check_allowed(name: str, role: str, w: World, response: Any, probe: Any, before: Any) -> None:
    """What each route does when it is allowed."""
    text = response.get_data(as_text=True)
    jobs_before = {j["id"]: j for j in before[0]}
    if name == "list":
        assert response.status_code == 200
        shown = {
            int(i) for i in re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', text)
        }
        shown |= {int(i) for i in re.findall(r"details/\?id=(\d+)", text)}
        mine = {
            i for i, j in jobs_before.items() if role != "viewer" or j["created_by"] == "viewer"
        }
        assert shown == mine
    elif name in ("details", "details_own"):
        assert response.status_code == 200
        assert f'data-job-id="{ROUTES[name].job(w)}"' in text  # type: ignore[misc]
    elif name in ("retry", "retry_own", "retry_prune"):
        assert probe.status(ROUTES[name].job(w)) == "pending"  # type: ignore[misc]
    elif name == "retry_items":
        (new,) = probe.jobs(retry_of=w.partial_admin)
        assert new["status"] == "pending" and new["params"]["count"] == 2
        assert probe.status(w.partial_admin) == "partial"
    elif name in ("cancel", "cancel_own"):
        assert probe.status(ROUTES[name].job(w)) == "cancelled"  # type: ignore[misc]
    elif name in ("delete", "delete_own"):
        assert probe.job(ROUTES[name].job(w)) is None  # type: ignore[misc]
    elif name == "bulk_retry":
        assert probe.status(w.failed_admin) == probe.status(w.failed_viewer) == "pending"
    elif name == "bulk_cancel":
        assert probe.status(w.pending_admin) == probe.status(w.pending_viewer) == "cancelled"
    elif name == "bulk_delete":
        assert probe.job(w.failed_admin) is None and probe.job(w.file_viewer) is None
    elif name in ("download", "download_own"):
        job_id = ROUTES[name].job(w)  # type: ignore[misc]
        assert response.status_code == 200
        assert text == f"job {job_id}\n"
        assert "attachment" in response.headers["Content-Disposition"]
    elif name == "export":
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert len(text.strip().splitlines()) == 1 + len(jobs_before)
    elif name == "prune":
        # Queued as a built-in job, not run in the request.
        (new,) = [j for j in probe.jobs() if j["id"] not in jobs_before]
        assert (new["type"], new["status"]) == ("jobs_admin.prune", "pending")
        assert new["params"] == {"days": 30} and new["created_by"] == role
        assert probe.job(w.old_admin) is not None
        current_app.extensions["jobs_admin"].work_off()  # the pending noops run too
        assert probe.status(new["id"]) == "completed"
        assert {j["id"] for j in probe.jobs()} == set(jobs_before) - {w.old_admin} | {new["id"]}
        assert probe.job(new["id"])["result"] == {"deleted": 1, "days": 30}
    elif name == "new_get":
        assert response.status_code == 200 and 'id="jobs-admin-run-form"' in text
    elif name == "new_post":
        (new,) = [j for j in probe.jobs() if j["id"] not in jobs_before]
        assert new["type"] == "test.noop" and new["status"] == "pending"
        assert new["created_by"] == role
    else:  # pragma: no cover
        raise AssertionError(name)
    if name not in ("list", "export", "new_get") and not name.startswith(("details", "download")):
        assert state(probe, probe_results(probe)) != before


def probe_results(probe: Any) -> Path:
    from flask import current_app

    return Path(current_app.extensions["jobs_admin"].settings().results_dir)


def refusal_message(name: str, role: str, w: World) -> str:
    """The flash a logged-in user gets when ``name`` is refused."""
    route = ROUTES[name]
    job_id = route.job(w) if route.job else None
    visible = role != "viewer" or name.endswith("_own")
    if name.startswith("details"):
        return "That job does not exist or you may not see it."
    if name.startswith("download"):
        return "That job has no result file you may download."
    if name.startswith("bulk"):
        return f"You do not have the {route.permission!r} permission; nothing was changed."
    if name == "export":
        return "You do not have the 'export' permission."
    if name == "prune":
        return "You do not have the 'prune' permission; nothing was deleted."
    if name.startswith("new"):
        return "You do not have the 'run' permission."
    if not visible:
        return f"Job {job_id} does not exist or you may not see it."
    return f"You do not have the {route.permission!r} permission for job {job_id}."


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="all")  # a job of 60 days ago
@pytest.mark.parametrize("name", sorted(ROUTES))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix_every_route_and_role(
    role: str, name: str, app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    w = build_world(jobs, probe)
    token = login_with_token(client, auth, role)
    route = ROUTES[name]
    results = probe_results(probe)
    before = state(probe, results)
    if route.method == "POST":
        data = {**route.data(w), "csrf_token": token}  # type: ignore[misc]
        response = client.post(route.url(w), data=data)
    else:
        response = client.get(route.url(w))
    response.get_data()  # buffer the body, then release a streamed file (no ResourceWarning)
    response.close()

    if name in ALLOWED[role]:
        check_allowed(name, role, w, response, probe, before)
        return

    assert state(probe, results) == before, "a refused request changed the jobs"
    assert response.status_code in (302, 403)
    if role == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
        return
    assert response.status_code == 302
    assert ("error", refusal_message(name, role, w)) in flashes(client)
    if name.startswith("download"):
        assert f"job {route.job(w)}" not in response.get_data(as_text=True)  # type: ignore[misc]


def test_access_no_checker_means_nothing_is_allowed(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    """Secure by default: without a permission checker even the admin sees a setup page."""
    job_id = jobs.enqueue("test.fail_once", created_by="admin", commit=True).id
    jobs.work_off()
    token = login_with_token(client, auth, "admin")
    checker, jobs.access.checker = jobs.access.checker, None
    try:
        before = state(probe, probe_results(probe))
        page = client.get("/admin/jobs/")
        assert page.status_code == 403
        assert "permission_checker" in page.get_data(as_text=True)
        refused = client.post(f"/admin/jobs/{job_id}/delete", data={"csrf_token": token})
        assert refused.status_code == 403
        assert state(probe, probe_results(probe)) == before
    finally:
        jobs.access.checker = checker


def test_access_viewer_sees_only_own_jobs_everywhere(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    w = build_world(jobs, probe)
    auth.login("viewer")
    own = {w.failed_viewer, w.file_viewer, w.pending_viewer}
    page = client.get("/admin/jobs/").get_data(as_text=True)
    counts = dict(re.findall(r'data-count="(\w+)">([\d,]+)<', page))
    assert counts == {
        "total": "3",
        "pending": "1",
        "running": "0",
        "completed": "1",
        "partial": "0",
        "failed": "1",
        "cancelled": "0",
    }
    ids = {int(i) for i in re.findall(r"details/\?id=(\d+)", page)}
    assert ids == own
    # Searching or filtering for another user's job finds nothing.
    for query in (
        f"search={w.failed_admin}",
        "search=admin",
        "flt0_created_by_equals=admin",
        "flt0_status_equals=partial",
    ):
        page = client.get(f"/admin/jobs/?{query}").get_data(as_text=True)
        assert not re.findall(r"details/\?id=(\d+)", page), query
        assert listed(page) == 0, query
    # The filter by creator on their own name agrees with the counters.
    page = client.get("/admin/jobs/?flt0_created_by_equals=viewer").get_data(as_text=True)
    assert listed(page) == 3


# -- CSRF ------------------------------------------------------------------------------------

CSRF_ROUTES = (
    "retry",
    "retry_items",
    "cancel",
    "delete",
    "bulk_retry",
    "bulk_cancel",
    "bulk_delete",
    "prune",
    "new_post",
)


def csrf_refusal(name: str) -> re.Pattern[str]:
    if name.startswith("bulk"):
        return re.compile(r"^Failed to perform action\. .*CSRF", re.I)
    if name == "prune":
        return re.compile(r"^Nothing was deleted: csrf_token: .*CSRF", re.I)
    if name == "new_post":
        return re.compile(r"^The form expired or lacks its CSRF token; nothing was started\.$")
    return re.compile(
        r"^The form expired or lacks its CSRF token; nothing was changed\. Try again\.$"
    )


@pytest.mark.parametrize("name", CSRF_ROUTES)
def test_csrf_post_without_a_valid_token_changes_nothing(
    name: str, app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    w = build_world(jobs, probe)
    # A real token, but of another session: it must not work in this one.
    other = app.test_client()
    login(other, "admin")
    foreign = token_of(other.get("/admin/jobs/").get_data(as_text=True))
    auth.login("admin")
    own = token_of(client.get("/admin/jobs/").get_data(as_text=True))
    assert foreign != own
    route = ROUTES[name]
    results = probe_results(probe)
    before = state(probe, results)
    for token in (None, "", "garbage", own[:-1] + ("0" if own[-1] != "0" else "1"), foreign):
        data = route.data(w)  # type: ignore[misc]
        if token is not None:
            data["csrf_token"] = token
        response = client.post(route.url(w), data=data)
        assert state(probe, results) == before, f"token {token!r} changed the jobs"
        assert response.status_code == (200 if name == "new_post" else 302)
        messages = [m for c, m in flashes(client) if c == "error"]
        if name == "new_post":  # rendered at once, not redirected: the flash is in the page
            messages = re.findall(r"(The form expired[^<]*?)\s*<", response.get_data(as_text=True))
        assert any(csrf_refusal(name).search(str(m)) for m in messages), (token, messages)
    # The same request with the session's own token works: the refusals were about the token.
    response = client.post(route.url(w), data={**route.data(w), "csrf_token": own})  # type: ignore[misc]
    assert state(probe, results) != before
