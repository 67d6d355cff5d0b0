"""Admin panel, how the list and detail pages are rendered: what is done once per page.

The list builds its rows in Python from patterns made once per page (links, forms), asks the
permission checker once per question, builds its own list URLs without ``url_for``, and the
detail page reads its events in one statement; each must print exactly what the slow way did.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask import url_for

from jobs_admin.admin import _buttons, _details, _html
from jobs_admin.admin import views as admin_views

# -- helpers ---------------------------------------------------------------------------------


def add(jobs: Any, job_type: str = "test.noop", by: str = "admin", **kw: Any) -> int:
    """Enqueue and commit a job; ``name``/``reference`` are options, the rest params."""
    options = {k: kw.pop(k) for k in ("name", "reference") if k in kw}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, **kw).id)


def page(client: Any, query: str = "") -> str:
    response = client.get("/admin/jobs/" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def view_of(app: Any) -> Any:
    admin = app.extensions["admin"][0]
    return next(v for v in admin._views if isinstance(v, admin_views.JobView))


@pytest.fixture
def counted_checker(jobs: Any) -> Iterator[list[tuple[str, Any]]]:
    """Wrap the host's permission checker; yields the (permission, job) of every call."""
    calls: list[tuple[str, Any]] = []
    checker = jobs.access.checker

    def counting(user: Any, permission: str, job: Any = None) -> bool:
        calls.append((permission, job))
        return bool(checker(user, permission, job))

    jobs.access.checker = counting
    try:
        yield calls
    finally:
        jobs.access.checker = checker


# -- id patterns -----------------------------------------------------------------------------


def test_id_pattern_renders_once_and_slots_ids_in() -> None:
    made: list[str] = []

    def render(n: str) -> str:
        made.append(n)
        return f'<a href="/jobs/{n}" title="Job {n}">#{n}</a>'

    pattern = _html.id_pattern(render, 3)
    assert pattern.parts is not None
    assert [pattern(7), pattern(12345)] == [render("7"), render("12345")]
    assert made == [_html.MARK, "7", "12345"]  # the two checks; the pattern rendered once


def test_id_pattern_renders_each_id_when_the_mark_comes_with_the_input() -> None:
    typed = f"search={_html.MARK}"  # a user searched for the mark itself

    def render(n: str) -> str:
        return f'<a href="/jobs/{n}?{typed}">#{n}</a>'

    pattern = _html.id_pattern(render, 2)
    assert pattern.parts is None
    assert pattern(7) == render("7") and str(pattern(7)).count(_html.MARK) == 1


def test_list_rows_use_patterns_and_print_as_before_with_the_mark_in_the_url(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    job_id = add(jobs, "test.fail_once")
    jobs.work_off()
    auth.login("admin")
    plain = page(client)
    marked = page(client, f"x={_html.MARK}")  # an argument the list keeps in its own URL
    for html, query in ((plain, "page_size%3D25"), (marked, f"x%3D{_html.MARK}%26page_size%3D25")):
        details = f"/admin/jobs/details/?id={job_id}&amp;url=/admin/jobs/?{query}"
        assert f'<a href="{details}" data-jobs-admin-job="{job_id}"' in html
        assert f'<a class="btn btn-sm btn-outline-secondary" href="{details}"' in html
        assert f'action="/admin/jobs/{job_id}/retry"' in html
        assert f'title="Delete job {job_id}" aria-label="Delete job {job_id}"' in html


def test_list_rows_compile_their_patterns(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    made: list[Any] = []
    real = _html.id_pattern

    def spy(render: Any, places: int) -> Any:
        made.append(real(render, places))
        return made[-1]

    add(jobs)
    auth.login("admin")
    _html.id_pattern = spy  # type: ignore[assignment]
    _buttons.id_pattern = spy  # type: ignore[assignment]
    try:
        page(client)
    finally:
        _html.id_pattern = real  # type: ignore[assignment]
        _buttons.id_pattern = real  # type: ignore[assignment]
    # details link, id link, view button; download, retry, stop, unqueue and delete
    assert len(made) == 8
    assert all(p.parts is not None for p in made)  # none renders per row


# -- work per page ---------------------------------------------------------------------------


def test_a_list_page_builds_the_same_urls_however_many_rows(
    app: Any, client: Any, auth: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = app.url_for

    def counting(endpoint: str, **values: Any) -> str:
        built.append(endpoint)
        return real(endpoint, **values)

    monkeypatch.setattr(app, "url_for", counting)
    auth.login("admin")
    add(jobs, "test.fail_once")
    add(jobs)
    jobs.work_off()
    add(jobs)
    page(client)  # Flask-Admin keeps its menu's URLs after the first page
    built.clear()
    page(client)
    few = Counter(built)
    for _ in range(10):  # 23 rows: still one page, the same pager
        add(jobs, "test.fail_once")
        add(jobs)
    jobs.work_off()
    built.clear()
    page(client)
    assert Counter(built) == few, "a row costs no url_for"


def test_a_list_page_asks_each_question_of_the_checker_once(
    app: Any, client: Any, auth: Any, jobs: Any, counted_checker: list[tuple[str, Any]]
) -> None:
    for _ in range(5):
        add(jobs, "test.fail_once", "viewer")
        add(jobs, "test.noop", "viewer")
    jobs.work_off()
    add(jobs, "test.noop", "viewer")
    auth.login("viewer")
    counted_checker.clear()
    html = page(client)
    assert len(re.findall(r'class="text-monospace">#\d+</a>', html)) == 11
    asked = Counter((p, id(job)) for p, job in counted_checker)
    # Each question once: view_all (asked inside every job's check too), each row's view
    # check, then its buttons' permissions.
    assert set(asked.values()) == {1}, asked
    assert ("view_all", id(None)) in asked
    assert sum(1 for p, _job in asked if p == "view") == 11 + 1  # each row, and the page
    assert 'action="/admin/jobs/' not in html.split("model-list", 1)[1].split("</table>")[0]


def test_permission_answers_are_per_request_in_one_app_context(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    # pytest-flask holds an app context open around the whole test, so ``g`` would be shared
    # by every request below: the answers must not be.
    job_id = add(jobs, "test.fail_once", "viewer")
    jobs.work_off()
    for role, shown in (("admin", True), ("viewer", False), ("operator", True), ("admin", True)):
        auth.login(role)
        html = page(client)
        assert (f'action="/admin/jobs/{job_id}/retry"' in html) is shown, role
        assert (f'action="/admin/jobs/{job_id}/delete"' in html) is (role == "admin"), role
        auth.logout()


# -- list URLs without url_for ---------------------------------------------------------------

LIST_ARGS: list[dict[str, Any]] = [
    {},
    {"page": None, "sort": None, "desc": None, "search": None, "page_size": 25},
    {"page": 3, "sort": 1, "desc": 1, "search": "a b", "page_size": 50},
    {"search": "ü ß/?&=#+% !$'()*,;:@~", "flt0_created_by_equals": "x y"},
    {"flt0_status_equals": "failed", "x": ["a", "b"], "y": ("c",), "z": None},
    {"url": "/admin/jobs/?search=%3Cx%3E&page=2"},
]


@pytest.mark.parametrize("args", LIST_ARGS)
def test_list_urls_are_those_of_url_for(app: Any, args: dict[str, Any]) -> None:
    view = view_of(app)
    with app.test_request_context("/admin/jobs/"):
        view.get_url(".index_view", page=2)  # the first one of a request checks the way
        assert view.get_url(".index_view", **args) == url_for("jobs.index_view", **args)


def test_list_urls_go_through_url_for_when_url_defaults_could_change_them(app: Any) -> None:
    @app.url_defaults
    def add_language(endpoint: str, values: dict[str, Any]) -> None:
        values.setdefault("lang", "en")

    view = view_of(app)
    with app.test_request_context("/admin/jobs/"):
        assert view.get_url(".index_view", page=2) == "/admin/jobs/?page=2&lang=en"
        assert view.get_url(".index_view", search="x") == "/admin/jobs/?search=x&lang=en"


# -- the detail page's events ----------------------------------------------------------------


def test_detail_events_in_one_read_are_those_read_kind_by_kind(
    app: Any, jobs: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two attempts with steps, failed items and logs each, an admin action, and a retry: the
    # steps and failed items shown are the last attempt's, the logs and history span both.
    job_id = add(jobs, "test.items", count=4, fail_every=2)
    jobs.work_off()
    with app.test_request_context("/"):
        jobs.retry(job_id, user=None)
    jobs.work_off()
    retried = jobs.retry_failed_items(jobs.get(job_id))
    jobs.work_off()

    def collect(job_id: int) -> dict[str, Any]:
        db.session.expire_all()
        info = _details.collect(jobs, jobs.get(job_id))
        data = {k: getattr(info, k) for k in ("logs_total", "failed_total", "steps", "retries")}
        for k in ("logs", "failed_items", "history", "audit"):
            data[k] = [ev.id for ev in getattr(info, k)]
        data["retries"] = [r.id for r in info.retries]
        data["retry_of"] = info.retry_of.id if info.retry_of else None
        return data

    with app.test_request_context("/"):
        one_read = [collect(job_id), collect(retried.id)]
        monkeypatch.setattr(_details, "SHOWN_EVENTS", 10_000_000)
        monkeypatch.setattr(_details, "_ONE_READ", -1)  # kind by kind, the slow way
        by_kind = [collect(job_id), collect(retried.id)]
    assert one_read == by_kind
    first = one_read[0]
    assert first["failed_total"] == 2 and len(first["failed_items"]) == 2  # last attempt only
    assert first["logs_total"] == len(first["logs"]) >= 4  # both attempts
    assert len(first["audit"]) == 2 and first["retries"] == [retried.id]  # retry, retry items
    assert one_read[1]["retry_of"] == job_id


def test_fixed_urls_are_kept_per_script_root_and_host(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin")
    for _ in range(2):  # the second round from what the first one kept
        for base, prefix in (
            ("http://localhost/", ""),
            ("http://localhost/shop/", "/shop"),
            ("http://other.example/", ""),
        ):
            html = client.get("/admin/jobs/", base_url=base).get_data(as_text=True)
            css = re.findall(r'<link href="([^"]+)" rel="stylesheet"', html)
            assert css[-1] == f"{prefix}/jobs_admin/static/jobs_admin.css", base
            assert f'src="{prefix}/admin/static/vendor/jquery.min.js?v=3.5.1"' in html, base
            assert f'href="{prefix}/admin/jobs/new"' in html, base
            assert f'"ws": "{prefix}/admin/jobs/ws"' in html, base
