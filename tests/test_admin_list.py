"""Admin panel, the job list: KPI tiles, columns, sorting, filters, search, counts, pagination."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from jobs_admin.models import utcnow

# -- speed: the suite builds a fresh app per test -----------------------------------------------


# -- helpers ---------------------------------------------------------------------------------

STATUSES = ("pending", "running", "completed", "partial", "failed", "cancelled")


def add(jobs: Any, job_type: str = "test.noop", by: str = "admin", **kw: Any) -> int:
    """Enqueue and commit a job; ``name``/``reference`` are options, the rest params."""
    options = {k: kw.pop(k) for k in ("name", "reference") if k in kw}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, **kw).id)


def claim(jobs: Any, db: Any) -> list[int]:
    """Move every due pending job to running, as a worker would (nothing runs it)."""
    with db.engine.begin() as conn:
        return list(jobs.store.claim(conn, "test-host:1:admin", 100))


def one_of_each(jobs: Any, db: Any, by: str = "admin") -> dict[str, int]:
    """One job per status (created by ``by``); returns status -> id."""
    ids = {
        "completed": add(jobs, "test.noop", by),
        "failed": add(jobs, "test.fail_once", by),
        "partial": add(jobs, "test.items", by, count=4, fail_every=2),
    }
    jobs.work_off()
    ids["running"] = add(jobs, "test.items", by, count=3)
    assert claim(jobs, db) == [ids["running"]]
    ids["pending"] = add(jobs, "test.noop", by)
    ids["cancelled"] = add(jobs, "test.noop", by)
    jobs.cancel(ids["cancelled"])
    return ids


def page(client: Any, query: str = "") -> str:
    response = client.get("/admin/jobs/" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def rows(html: str) -> list[int]:
    """The job ids of the table's rows, in order."""
    return [int(i) for i in re.findall(r'class="text-monospace">#(\d+)</a>', html)]


def cell(row_html: str, column: str) -> str:
    """The stripped inner HTML of one column's cell in a row's HTML."""
    match = re.search(rf'<td class="col-{column}">\s*(.*?)\s*</td>', row_html, re.S)
    assert match, column
    return match.group(1)


def listed(html: str) -> int:
    """The match count the list's tab shows ("List (3)"; just "List" for none)."""
    match = re.search(r'class="nav-link active">List(?: \(([\d,]+)\))?<', html)
    assert match, "not a list page"
    return int((match.group(1) or "0").replace(",", ""))


def tiles(html: str) -> dict[str, dict[str, Any]]:
    """The KPI tiles: key -> {count, href, active}."""
    found = {}
    for attrs, body in re.findall(r'<a class="card jobs-admin-kpi([^>]*)>(.*?)</a>', html, re.S):
        key = re.search(r'data-kpi="(\w+)"', attrs).group(1)  # type: ignore[union-attr]
        count = re.search(r'data-count="\w+">([\d,]+)<', body).group(1)  # type: ignore[union-attr]
        href = re.search(r'href="([^"]*)"', attrs).group(1)  # type: ignore[union-attr]
        classes = attrs.split('"')[0]
        found[key] = {
            "count": int(count.replace(",", "")),
            "href": html_lib.unescape(href),
            "active": 'aria-current="true"' in attrs and "active" in classes.split(),
            "classes": classes,
        }
    return found


def range_buttons(html: str) -> list[tuple[str, str, bool]]:
    """The date-range preset buttons: (label, href, active)."""
    found = re.findall(
        r'<a class="btn btn-outline-secondary( active)?" data-range="\w+"([^>]*)>([^<]+)</a>', html
    )
    return [
        (label, html_lib.unescape(re.search(r'href="([^"]*)"', attrs).group(1)), bool(active))  # type: ignore[union-attr]
        for active, attrs, label in found
    ]


def flashes(client: Any) -> list[tuple[str, str]]:
    """The flashed (category, message) pairs not yet shown, consuming them."""
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# -- KPI tiles -------------------------------------------------------------------------------


def test_kpis_count_every_visible_job_whatever_the_filter(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    one_of_each(jobs, db, "admin")
    one_of_each(jobs, db, "viewer")
    add(jobs, "test.noop", "operator", name="extra")
    expected = probe.group_by_status()
    assert expected["total"] == 13
    auth.login("admin")
    for query in ("", "flt0_status_equals=failed", "search=extra", "flt0_type_equals=test.items"):
        html = page(client, query)
        assert {k: t["count"] for k, t in tiles(html).items()} == expected, query
    # The table itself is filtered.
    html = page(client, "flt0_status_equals=failed")
    assert listed(html) == 2
    assert {probe.status(i) for i in rows(html)} == {"failed"}


def test_kpis_of_a_viewer_count_only_own_jobs(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    one_of_each(jobs, db, "admin")
    one_of_each(jobs, db, "viewer")
    add(jobs, "test.noop", "viewer")
    auth.login("viewer")
    counts = {k: t["count"] for k, t in tiles(page(client, "flt0_status_equals=failed")).items()}
    assert counts == probe.group_by_status("viewer")
    assert counts["total"] == 7 and counts["pending"] == 2


def test_kpis_tile_links_filter_the_table_and_stay_highlighted(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    ids = one_of_each(jobs, db)
    auth.login("admin")
    first = tiles(page(client))
    assert [k for k, t in first.items() if t["active"]] == ["total"]
    assert list(first) == ["total", *STATUSES]
    for status in STATUSES:
        href = first[status]["href"]
        assert query_of(href) == {"flt0_status_equals": status}
        html = page(client, urlsplit(href).query)
        assert rows(html) == [ids[status]]
        now = tiles(html)
        assert [k for k, t in now.items() if t["active"]] == [status]
        # Filled with the status colour, text readable on it (dark on yellow).
        dark = status in ("pending", "partial")
        assert ("text-dark" if dark else "text-white") in now[status]["classes"].split()
        assert re.search(r"\bbg-\w+", now[status]["classes"])
        # From a filtered page the Total tile clears the status filter.
        assert urlsplit(now["total"]["href"]).query == ""


def test_kpis_tile_links_keep_the_other_filters_and_reset_the_page(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any
) -> None:
    one_of_each(jobs, db)
    auth.login("admin")
    html = page(
        client,
        "search=test&flt0_type_equals=test.noop&flt1_status_equals=pending&page=1&page_size=50",
    )
    links = tiles(html)
    assert [k for k, t in links.items() if t["active"]] == ["pending"]
    failed = query_of(links["failed"]["href"])
    assert failed.pop("page", None) is None
    assert failed == {
        "search": "test",
        "flt0_type_equals": "test.noop",
        "page_size": "50",
        "flt1_status_equals": "failed",
    }
    assert "status_equals" not in links["total"]["href"]
    assert "flt0_type_equals=test.noop" in links["total"]["href"]


# -- columns ---------------------------------------------------------------------------------


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="all")  # jobs of every age
def test_columns_show_badges_phase_error_progress_times_and_reference(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    failed = add(jobs, "test.fail", "operator", message="disk full", name="Nightly export")
    partial = add(jobs, "test.items", "admin", count=4, fail_every=2, reference="PO-1234")
    jobs.work_off()
    # test.fail has 3 attempts with a backoff: make it fail for good.
    for _ in range(3):
        probe.update(failed, run_at=utcnow() - timedelta(seconds=1))
        jobs.work_off()
    assert probe.status(failed) == "failed"
    running = add(jobs, "test.items", "viewer", count=10, name="Big import")
    claim(jobs, db)
    started = utcnow() - timedelta(minutes=3)
    probe.update(
        running, phase="Importing rows", progress_total=10, progress_done=4, started_at=started
    )
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    probe.update(partial, created_at=created)

    auth.login("admin")
    html = page(client)
    headers = re.findall(r'<th class="column-header col-(\w+)">', html)
    assert headers == [
        "id",
        "name",
        "status",
        "progress_done",
        "created_by",
        "created_at",
        "duration",
        "reference",
        # The optional columns (hidden until chosen in the "Columns" menu).
        "message",
        "started_at",
        "updated_at",
        "updated_by",
        "percent",
        "items",
        "attempts",
        "priority",
        "worker",
    ]
    cells = dict(
        zip(rows(html), re.split(r'<input type="checkbox" name="rowid"', html)[1:], strict=True)
    )
    # name + type badge, status badge
    assert ">Nightly export</a>" in cells[failed]
    assert '<span class="badge badge-secondary jobs-admin-type">test.fail</span>' in cells[failed]
    assert (
        'class="badge badge-danger jobs-admin-status" data-status="failed">Failed<' in cells[failed]
    )
    # failed: an error icon with the message on hover
    icon = re.search(r'<span class="fa fa-exclamation-circle[^"]*" title="([^"]*)"', cells[failed])
    assert icon and icon.group(1) == "RuntimeError: disk full"
    assert "jobs-admin-error-icon" not in cells[partial]
    # running: its phase under the badge, a striped progress bar 4/10
    assert 'data-status="running"' in cells[running]
    assert '<div class="small text-muted jobs-admin-phase">Importing rows</div>' in cells[running]
    assert "progress-bar-animated" in cells[running]
    assert ">4/10<" in cells[running]
    assert 'data-started="' in cells[running]
    assert re.search(r">3 min(?: \d+ s)?<", cells[running])
    # partial: outline badge, done/total + failed count
    assert 'class="badge badge-outline-warning jobs-admin-status"' in cells[partial]
    assert '2/4 · <span class="text-danger">2 failed</span>' in cells[partial]
    assert cell(cells[partial], "reference") == "PO-1234"
    # created: relative, exact UTC on hover
    assert re.search(
        r'<time datetime="2026-01-02T03:04:05\+00:00" title="Jan 2, 2026, 3:04:05\u202fAM UTC" '
        r'class="jobs-admin-time">\d+ (?:days?|mo\.) ago</time>',
        cells[partial],
    )
    # created by
    assert cell(cells[running], "created_by") == "viewer"
    assert cell(cells[failed], "created_by") == "operator"
    assert cell(cells[failed], "reference") == ""


def test_columns_a_stale_running_job_shows_worker_lost(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    stale = add(jobs, name="stale one")
    fresh = add(jobs, name="fresh one")
    claim(jobs, db)
    after = jobs.settings().stale_after
    probe.update(stale, heartbeat_at=utcnow() - timedelta(seconds=after + 5))
    auth.login("admin")
    html = page(client)
    cells = dict(zip(rows(html), re.split(r'name="rowid"', html)[1:], strict=True))
    assert "worker lost?" in cells[stale]
    assert "worker lost?" not in cells[fresh]
    detail = client.get(f"/admin/jobs/details/?id={stale}").get_data(as_text=True)
    assert "worker lost?" in detail and "its worker may be lost" in detail


# -- order and sorting -----------------------------------------------------------------------


def test_sort_newest_first_then_by_created_name_and_duration(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    base = utcnow() - timedelta(days=1)
    spec = {  # name: (created minutes after base, duration seconds)
        "bravo": (10, 30),
        "alpha": (30, 5),
        "charlie": (20, 600),
        "delta": (40, 60),
    }
    ids = {}
    for name in spec:
        ids[name] = add(jobs, name=name)
    jobs.work_off()
    for name, (minutes, seconds) in spec.items():
        created = base + timedelta(minutes=minutes)
        probe.update(
            ids[name],
            created_at=created,
            started_at=created,
            finished_at=created + timedelta(seconds=seconds),
        )
    auth.login("admin")
    by = {v: k for k, v in ids.items()}

    def names(query: str = "") -> list[str]:
        return [by[i] for i in rows(page(client, query))]

    assert names() == ["delta", "alpha", "charlie", "bravo"]  # newest first
    html = page(client)
    sortable = dict(re.findall(r'<a href="[^"]*\?sort=(\d+)[^"]*" title="Sort by (\w+)"', html))
    assert sortable == {"0": "ID", "1": "Name", "5": "Created", "6": "Duration"}
    assert names("sort=5") == ["bravo", "charlie", "alpha", "delta"]
    assert names("sort=5&desc=1") == ["delta", "alpha", "charlie", "bravo"]
    assert names("sort=1") == ["alpha", "bravo", "charlie", "delta"]
    assert names("sort=1&desc=1") == ["delta", "charlie", "bravo", "alpha"]
    assert names("sort=6") == ["alpha", "bravo", "delta", "charlie"]
    assert names("sort=6&desc=1") == ["charlie", "delta", "bravo", "alpha"]
    # Sorting keeps the filters.
    assert names("sort=1&search=a") == ["alpha", "bravo", "charlie", "delta"]
    assert names("sort=1&search=alph") == ["alpha"]


def test_sort_ties_are_broken_by_id(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    ids = [add(jobs, name="same") for _ in range(4)]
    same = utcnow() - timedelta(hours=1)
    for job_id in ids:
        probe.update(job_id, created_at=same)
    auth.login("admin")
    assert rows(page(client)) == sorted(ids, reverse=True)
    assert rows(page(client, "sort=1")) == sorted(ids, reverse=True)


# -- filters ---------------------------------------------------------------------------------


def test_filter_by_status_type_and_creator_with_named_urls(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    admin_ids = one_of_each(jobs, db, "admin")
    viewer_ids = one_of_each(jobs, db, "viewer")
    echo = add(jobs, "test.echo", "operator", x=1)
    auth.login("admin")

    def found(query: str) -> set[int]:
        html = page(client, query)
        assert not flashes(client), query
        assert listed(html) == len(rows(html)), query
        return set(rows(html))

    assert found("flt0_status_equals=failed") == {admin_ids["failed"], viewer_ids["failed"]}
    assert found("flt0_type_equals=test.echo") == {echo}
    assert found("flt0_type_equals=test.items") == {
        admin_ids["partial"],
        admin_ids["running"],
        viewer_ids["partial"],
        viewer_ids["running"],
    }
    assert found("flt0_created_by_equals=viewer") == set(viewer_ids.values())
    assert found("flt0_created_by_equals=viewer&flt1_status_equals=pending") == {
        viewer_ids["pending"]
    }
    assert found("flt0_created_by_equals=nobody") == set()
    assert found("flt0_type_equals=test.noop&flt1_created_by_equals=admin") == {
        admin_ids[s] for s in ("completed", "pending", "cancelled")
    }
    # The filter the page shows as active carries the same stable name.
    html = page(client, "flt0_status_equals=failed")
    assert '"flt0_status_equals"' in html or "status_equals" in html


def test_filter_created_presets_and_custom_range(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ages = {
        "just now": now - timedelta(minutes=1),
        "3 days": now - timedelta(days=3),
        "10 days": now - timedelta(days=10),
        "40 days": now - timedelta(days=40),
        "fixed": datetime(2025, 6, 15, 23, 59, 59, tzinfo=UTC),
        "fixed next": datetime(2025, 6, 16, 0, 0, 0, tzinfo=UTC),
    }
    if now - midnight > timedelta(minutes=2):
        ages["today early"] = midnight + timedelta(seconds=1)
    ids = {}
    for label, created in ages.items():
        ids[label] = add(jobs, name=label)
        probe.update(ids[label], created_at=created)
    by = {v: k for k, v in ids.items()}
    auth.login("admin")

    def found(query: str) -> set[str]:
        html = page(client, query)
        assert not flashes(client), query
        return {by[i] for i in rows(html)}

    today = {"just now"} | ({"today early"} if "today early" in ids else set())
    assert found("flt0_created_within=today") == today
    assert found("flt0_created_within=7d") == today | {"3 days"}
    assert found("flt0_created_within=30d") == today | {"3 days", "10 days"}
    assert found("flt0_created_within=all") == set(ages)
    assert found("flt0_created_between=2025-06-15+to+2025-06-15") == {"fixed"}
    assert found("flt0_created_between=2025-06-16+to+2025-06-16") == {"fixed next"}
    assert found("flt0_created_between=2025-06-01+to+2025-06-30") == {"fixed", "fixed next"}
    day = (now - timedelta(days=10)).date().isoformat()
    assert found(f"flt0_created_between={day}+to+{day}") == {"10 days"}
    # The preset buttons link to these URLs and highlight the one in use.
    # The default range (7 days) is the one without an argument; "All" is an explicit choice.
    html = page(client, "flt0_created_within=30d")
    buttons = range_buttons(html)
    assert [(label, active) for label, _, active in buttons] == [
        ("Today", False),
        ("Last 7 days", False),
        ("Last 30 days", True),
        ("All", False),
    ]
    assert [query_of(h) for _, h, _ in buttons] == [
        {"flt0_created_within": "today"},
        {},
        {"flt0_created_within": "30d"},
        {"flt0_created_within": "all"},
    ]


@pytest.mark.parametrize(
    "query",
    [
        "flt0_status_equals=bogus",
        "flt0_status_equals=",
        "flt0_status_equals=FAILED",
        "flt0_type_equals=no.such.type",
        "flt0_created_by_equals=",
        "flt0_created_by_equals=" + "x" * 201,
        "flt0_created_within=yesterday",
        "flt0_created_between=garbage",
        "flt0_created_between=2026-13-01+to+2026-13-05",
        "flt0_created_between=2026-02-30+to+2026-03-01",
        "flt0_created_between=2026-03-05+to+2026-03-01",
        "flt0_created_between=2026-03-01",
        "flt0_created_between=2026-03-01+to+2026-03-02+to+2026-03-03",
        "flt0_created_between=2026-01-01+to+9999-12-31",  # its day after does not exist
        "flt0_created_by_equals=a%00b",  # PostgreSQL refuses NUL in text
    ],
)
def test_filter_invalid_values_are_refused_with_a_flash_and_ignored(
    query: str, app: Any, client: Any, auth: Any, jobs: Any, db: Any
) -> None:
    ids = one_of_each(jobs, db)
    auth.login("admin")
    response = client.get(f"/admin/jobs/?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Invalid value " in html and "; it is ignored." in html
    # The message quotes at most 40 characters of what it refused.
    assert not re.search(r"Invalid value '[^']{41,}'", html)
    assert set(rows(html)) == set(ids.values())
    assert listed(html) == 6
    # Export and the tiles ignore it the same way.
    assert [k for k, t in tiles(html).items() if t["active"]] == ["total"]
    if "created_within" in query:
        # The default range is in force instead.
        assert [label for label, _, active in range_buttons(html) if active] == ["Last 7 days"]
    export = client.get(f"/admin/jobs/export.csv?{query}")
    assert export.status_code == 200
    assert len(export.get_data(as_text=True).strip().splitlines()) == 7


def test_filter_custom_range_takes_days_without_leading_zeros(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    inside, outside = add(jobs, name="inside"), add(jobs, name="outside")
    probe.update(inside, created_at=datetime(2024, 1, 6, 12, tzinfo=UTC))
    probe.update(outside, created_at=datetime(2024, 1, 7, 0, tzinfo=UTC))
    auth.login("admin")
    html = page(client, "flt0_created_between=2024-1-5+to+2024-1-6")
    assert "Invalid value " not in html
    assert rows(html) == [inside]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("flt_status_equals=failed", "failed"),  # Flask-Admin reads any position
        ("fltx_status_equals=failed", "failed"),
        ("flt7_status_equals=failed", "failed"),
    ],
)
def test_filter_spellings_flask_admin_accepts_light_their_tile(
    query: str, expected: str, app: Any, client: Any, auth: Any, jobs: Any, db: Any
) -> None:
    ids = one_of_each(jobs, db)
    auth.login("admin")
    html = page(client, query)
    assert rows(html) == [ids[expected]]
    found = tiles(html)
    assert [k for k, t in found.items() if t["active"]] == [expected]
    # Another tile replaces the filter instead of adding a second one (an empty list).
    pending = query_of(found["pending"]["href"])
    assert list(pending.values()) == ["pending"]
    assert rows(page(client, urlsplit(found["pending"]["href"]).query)) == [ids["pending"]]


def test_filter_a_valid_filter_still_applies_next_to_an_invalid_one(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any
) -> None:
    ids = one_of_each(jobs, db)
    auth.login("admin")
    html = page(client, "flt0_status_equals=failed&flt1_type_equals=nope")
    assert "Invalid value " in html
    assert rows(html) == [ids["failed"]]


# -- search ----------------------------------------------------------------------------------


def test_search_matches_name_reference_id_and_creator(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    a = add(jobs, by="operator", name="Spring catalog export", reference="PO-ABCD")
    b = add(jobs, by="admin", name="Import ACME feed", reference="INV-XY")
    c = add(jobs, by="viewer", name="100% done_report")
    d = add(jobs, "test.echo", by="admin", name="Other")
    auth.login("admin")

    def found(term: str) -> set[int]:
        html = page(client, f"search={term}")
        assert listed(html) == len(rows(html)), term
        return set(rows(html))

    assert found("catalog") == {a}
    assert found("CATALOG") == {a}
    assert found("PO-ABCD") == {a}
    assert found("inv-x") == {b}
    assert found(str(b)) == {b}
    assert found(f"%23{c}") == {c}  # "#3"
    assert found("operator") == {a}
    assert found("viewer") == {c}
    assert found("test.echo") == {d}
    assert found("spring+export") == {a}  # every term must match
    assert found("spring+acme") == set()
    # LIKE wildcards are literal.
    assert found("100%25") == {c}
    assert found("%25") == {c}
    assert found("done_r") == {c}
    assert found("e_a") == set()
    assert found("nothing-like-this") == set()
    # Digits int() does not take, and NUL (the end of an FTS5 string; refused by PostgreSQL).
    assert found("%C2%B2") == set()
    assert found("%E2%91%A0") == set()
    assert found("cata%00log") == {a}
    assert found("%00") == {a, b, c, d}  # nothing left to search for
    export = client.get("/admin/jobs/export.csv?search=cata%00log")
    assert export.status_code == 200
    assert [line.split(",")[0] for line in export.get_data(as_text=True).splitlines()] == [
        "ID",
        str(a),
    ]
    # The box says what it searches.
    assert 'placeholder="ID, name, reference, type, user or params.KEY:VALUE"' in page(client)
    # The search box keeps the term; an empty search shows everything.
    assert 'value="catalog"' in page(client, "search=catalog")
    assert set(rows(page(client, "search="))) == {a, b, c, d}


# -- counts and pagination -------------------------------------------------------------------


def test_counts_shown_match_the_database(
    app: Any, client: Any, auth: Any, jobs: Any, db: Any, probe: Any
) -> None:
    one_of_each(jobs, db, "admin")
    one_of_each(jobs, db, "viewer")
    for i in range(3):
        add(jobs, "test.echo", "operator", name=f"echo {i}")
    auth.login("admin")
    all_jobs = probe.jobs()
    cases: dict[str, Callable[[dict[str, Any]], bool]] = {
        "": lambda j: True,
        "flt0_status_equals=pending": lambda j: j["status"] == "pending",
        "flt0_created_by_equals=viewer": lambda j: j["created_by"] == "viewer",
        "flt0_created_by_equals=viewer&flt1_status_equals=failed": lambda j: (
            j["created_by"] == "viewer" and j["status"] == "failed"
        ),
        "flt0_type_equals=test.echo": lambda j: j["type"] == "test.echo",
        "search=echo": lambda j: "echo" in (j["name"] or "") or "echo" in j["type"],
        "flt0_created_within=today": lambda j: True,
        "flt0_status_equals=pending&search=admin": lambda j: (
            j["status"] == "pending" and j["created_by"] == "admin"
        ),
    }
    for query, match in cases.items():
        expected = sum(1 for j in all_jobs if match(j))
        html = page(client, query)
        assert listed(html) == expected, query
        assert len(rows(html)) == expected, query
    # The viewer's counts come from the same place, limited to their jobs.
    auth.logout()
    auth.login("viewer")
    assert listed(page(client)) == 6
    assert listed(page(client, "flt0_type_equals=test.echo")) == 0
    assert listed(page(client, "flt0_created_by_equals=viewer&flt1_status_equals=failed")) == 1


def test_pagination_pages_and_page_size(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    ids = [add(jobs, name=f"job {i}") for i in range(30)]
    base = utcnow() - timedelta(hours=1)
    for n, job_id in enumerate(ids):
        probe.update(job_id, created_at=base + timedelta(seconds=n))
    newest_first = ids[::-1]
    auth.login("admin")
    first = page(client)
    assert listed(first) == 30
    assert rows(first) == newest_first[:25]
    assert rows(page(client, "page=1")) == newest_first[25:]
    assert rows(page(client, "page=2")) == []
    assert rows(page(client, "page_size=50")) == newest_first
    assert rows(page(client, "page_size=1000")) == newest_first[:25]  # not an option: default
    pager = re.findall(r'<a class="page-link" href="(/[^"]+)">(\d+)</a>', first)
    assert [label for _, label in pager] == ["2"]
    assert query_of(html_lib.unescape(pager[0][0]))["page"] == "1"
    # A filtered list pages through its own matches; the pager keeps the filter.
    echo = add(jobs, "test.echo", name="not a noop")
    html = page(client, "flt0_type_equals=test.noop")
    assert listed(html) == 30 and echo not in rows(html)
    (link,) = re.findall(r'<a class="page-link" href="(/[^"]+)">2</a>', html)
    assert query_of(html_lib.unescape(link)) == {
        "page": "1",
        "page_size": "25",
        "flt0_type_equals": "test.noop",
    }
    assert rows(page(client, urlsplit(html_lib.unescape(link)).query)) == newest_first[25:]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("page=-1", True),  # PostgreSQL refuses a negative OFFSET
        ("page=99999999999999999999", False),  # past any row, and past a 64-bit OFFSET
        ("page=" + "9" * 5000, True),  # past int()'s digit limit: no page, the first
    ],
)
def test_pagination_out_of_range_pages_are_clamped(
    query: str, first: bool, app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    ids = [add(jobs, name=f"job {i}") for i in range(3)]
    auth.login("admin")
    assert rows(page(client, query)) == (ids[::-1] if first else [])


@pytest.mark.parametrize(
    "query",
    ["endpoint=x", "self=x", "values=x", "_method=POST", "flt" + "9" * 5000 + "_status_equals=x"],
)
def test_query_arguments_that_are_not_the_lists_are_ignored(
    query: str, app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    ids = [add(jobs, name=f"job {i}") for i in range(2)]
    auth.login("admin")
    assert rows(page(client, query)) == ids[::-1]  # not a 500 from url_for's keywords


def test_query_arguments_cannot_make_links_absolute_with_the_host_header(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    [add(jobs, name=f"job {i}") for i in range(30)]
    auth.login("admin")
    response = client.get(
        "/admin/jobs/?_external=1&_scheme=https&flt0_status_equals=pending",
        headers={"Host": "evil.example"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "evil.example" not in html
    # The export link keeps the list's own arguments, and only those.
    (link,) = re.findall(r'href="([^"]*export\.csv[^"]*)"', html)
    assert link.startswith("/admin/jobs/export.csv?")
    assert query_of(html_lib.unescape(link)) == {"flt0_status_equals": "pending"}


@pytest.mark.app_config(JOBS_ADMIN_PAGE_SIZE=10)
def test_pagination_page_size_comes_from_config(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    for i in range(12):
        add(jobs, name=f"job {i}")
    auth.login("admin")
    html = page(client)
    assert len(rows(html)) == 10 and listed(html) == 12
    assert 'href="/admin/jobs/?page_size=10">10 items' in html


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="all")  # jobs of every age
@pytest.mark.app_config(JOBS_ADMIN_PAGE_SIZE=2)
def test_counts_capped_above_count_cap(
    app: Any, client: Any, auth: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs_admin.admin import _list as views

    monkeypatch.setattr(views, "COUNT_CAP", 3)
    ids = [add(jobs, "test.echo", name=f"echo {i}") for i in range(7)]
    other = [add(jobs, "test.noop") for _ in range(2)]
    auth.login("admin")
    # Counter path: exact, never capped.
    html = page(client)
    assert listed(html) == 9 and "More than" not in html
    # At or below the cap: exact.
    html = page(client, "flt0_type_equals=test.noop")
    assert listed(html) == 2 and "More than" not in html
    assert sorted(rows(html)) == sorted(other)
    # Counted path above the cap: says so instead of counting every row, and never shows a
    # made-up total.
    html = page(client, "flt0_type_equals=test.echo")
    assert "More than 3 jobs match" in html
    assert listed(html) not in (4, 7)
    # Every row stays reachable by following the pager's "next" link.
    seen: list[int] = []
    url: str | None = "/admin/jobs/?flt0_type_equals=test.echo"
    while url and len(seen) < 20:
        html = client.get(url).get_data(as_text=True)
        seen += rows(html)
        nxt = re.search(
            r'<li class="page-item">\s*<a class="page-link" href="(/[^"]+)">&gt;</a>', html
        )
        url = html_lib.unescape(nxt.group(1)) if nxt else None
    assert seen == ids[::-1]
