"""Admin panel: the streamed CSV export of the current filter, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import gc
import html as html_lib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from jobs_admin.export import CHUNK_ROWS, INCOMPLETE, neutralise, stream_csv
from jobs_admin.models import utcnow
from tests.support import login

# -- speed: the suite builds a fresh app per test -----------------------------------------------


# -- helpers ---------------------------------------------------------------------------------

HEADER = [
    "ID",
    "Name",
    "Type",
    "Status",
    "Created",
    "Started",
    "Finished",
    "Duration (s)",
    "Created by",
    "Reference",
    "Error",
]


def add(jobs: Any, job_type: str = "test.noop", by: str = "admin", **kw: Any) -> int:
    options = {k: kw.pop(k) for k in ("name", "reference") if k in kw}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, **kw).id)


def export(client: Any, query: str = "") -> tuple[Any, list[str], list[dict[str, str]]]:
    """GET the export; return the response, its streamed chunks and its rows as dicts."""
    response = client.get("/admin/jobs/export.csv" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.status_code
    chunks = [c.decode() if isinstance(c, bytes) else c for c in response.response]
    response.close()  # as a server does: the export's connection and place go back
    reader = csv.reader(io.StringIO("".join(chunks)))
    header = next(reader)
    assert header == HEADER
    return response, chunks, [dict(zip(HEADER, r, strict=True)) for r in reader]


def ids(rows: list[dict[str, str]]) -> list[int]:
    return [int(r["ID"]) for r in rows]


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="all")  # jobs of every age
def test_export_columns_values_and_headers(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    failed = add(jobs, "test.fail_once", "operator", name="Broken", reference="PO-1")
    done = add(jobs, "test.noop", "viewer", name='Fine, "quoted"\nline')
    jobs.work_off()
    pending = add(jobs)
    created = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    probe.update(
        done,
        created_at=created,
        started_at=created + timedelta(seconds=1),
        finished_at=created + timedelta(seconds=3, milliseconds=250),
    )
    auth.login("operator")
    response, _chunks, rows = export(client)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="jobs-export.csv"'
    assert ids(rows) == [pending, failed, done]  # the list's order: newest first
    by_id = {int(r["ID"]): r for r in rows}
    assert by_id[done] == {
        "ID": str(done),
        "Name": 'Fine, "quoted"\nline',
        "Type": "test.noop",
        "Status": "completed",
        "Created": "2026-03-04T05:06:07+00:00",
        "Started": "2026-03-04T05:06:08+00:00",
        "Finished": "2026-03-04T05:06:10+00:00",
        "Duration (s)": "2.250",
        "Created by": "viewer",
        "Reference": "",
        "Error": "",
    }
    assert by_id[failed]["Error"] == "ValueError: no luck"
    assert by_id[failed]["Reference"] == "PO-1" and by_id[failed]["Status"] == "failed"
    assert by_id[pending]["Started"] == by_id[pending]["Duration (s)"] == ""


def test_export_is_streamed_in_chunks_of_rows(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    for i in range(1203):  # more than one yield_per batch
        jobs.enqueue("test.noop", name=f"job {i}\nsecond line", created_by="admin")
    jobs.db.session.commit()
    auth.login("admin")
    response, chunks, rows = export(client)
    assert response.is_streamed
    assert "Content-Length" not in response.headers
    # The header at once, then CHUNK_ROWS rows per chunk (a quoted newline inside a cell
    # does not end a row).
    assert chunks[0].startswith("ID,Name,Type,") and chunks[0].count("\n") == 1
    sizes = [len(list(csv.reader(io.StringIO(chunk)))) for chunk in chunks[1:]]
    assert sizes == [CHUNK_ROWS, CHUNK_ROWS, 1203 - 2 * CHUNK_ROWS]
    assert len(rows) == 1203 and len(set(ids(rows))) == 1203
    assert {r["Name"].split("\n")[1] for r in rows} == {"second line"}


def test_export_cut_short_says_so_in_its_last_line() -> None:
    class Row:
        def __init__(self, n: int) -> None:
            self.id, self.name, self.type, self.status = n, f"job {n}", "test.noop", "pending"
            self.created_at = datetime(2026, 1, 1, tzinfo=UTC)
            self.started_at = self.finished_at = self.error = None
            self.created_by, self.reference = "admin", None

    def rows() -> Any:
        yield from (Row(n) for n in range(1, 8))
        raise RuntimeError("connection lost")

    chunks: list[str] = []
    with pytest.raises(RuntimeError, match="connection lost"):
        for chunk in stream_csv(rows(), chunk_rows=3):
            chunks.append(chunk)
    lines = list(csv.reader(io.StringIO("".join(chunks))))
    # Every row read before the error is there, then the line a reader cannot miss.
    assert [line[0] for line in lines] == ["ID", *map(str, range(1, 8)), INCOMPLETE]


def test_export_that_cannot_start_flashes_and_changes_nothing(
    app: Any, client: Any, auth: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from jobs_admin.admin.views import JobView

    add(jobs)
    real = JobView._filtered

    def broken(self: Any, search: Any, filters: Any) -> Any:
        return real(self, search, filters).filter(sa.text("no_such_column = 1"))

    monkeypatch.setattr(JobView, "_filtered", broken)
    auth.login("admin")
    response = client.get("/admin/jobs/export.csv")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/jobs/"
    with client.session_transaction() as session:
        messages = [str(m) for _c, m in session.pop("_flashes", [])]
    assert messages == [
        "The export failed: OperationalError. Nothing was exported."
    ] or messages == ["The export failed: ProgrammingError. Nothing was exported."]
    monkeypatch.undo()
    assert client.get("/admin/jobs/").status_code == 200  # the session was rolled back


def test_export_closed_unread_leaves_the_next_one_whole(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    # A browser that cancels the download before the body: on PostgreSQL the export's
    # server-side cursor must not outlive its own request and break the next one.
    made = [add(jobs, name=f"job {i}") for i in range(1203)]
    auth.login("admin")
    for _ in range(2):
        client.get("/admin/jobs/export.csv").close()
    assert sorted(ids(export(client)[2])) == made
    assert sorted(ids(export(client)[2])) == made


def test_export_clamps_a_negative_duration_to_zero(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = add(jobs, "test.noop")
    jobs.work_off()
    started = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    # A clock step back between start and end must not export a negative duration.
    probe.update(job_id, started_at=started, finished_at=started - timedelta(seconds=2))
    auth.login("admin")
    (row,) = export(client)[2]
    assert row["Duration (s)"] == "0.000"
    assert row["Started"] == "2026-03-04T05:06:07+00:00"


@pytest.mark.app_config(JOBS_ADMIN_DEFAULT_RANGE="all")  # jobs of every age
def test_export_applies_the_current_filters_search_and_sort(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    a = add(jobs, "test.fail_once", "operator", name="alpha export")
    b = add(jobs, "test.noop", "admin", name="bravo export")
    c = add(jobs, "test.noop", "viewer", name="charlie import")
    jobs.work_off()
    d = add(jobs, "test.noop", "admin", name="delta export")
    probe.update(c, created_at=utcnow() - timedelta(days=20))
    auth.login("admin")
    cases = {
        "flt0_status_equals=completed": [b, c],
        "flt0_status_equals=failed": [a],
        "flt0_type_equals=test.fail_once": [a],
        "flt0_created_by_equals=admin": [d, b],
        "search=export": [d, b, a],
        "search=export&flt0_status_equals=completed": [b],
        "flt0_created_within=7d": [d, b, a],
        "sort=1": [a, b, c, d],
        "sort=1&desc=1&search=export": [d, b, a],
        "flt0_status_equals=bogus": [d, b, a, c],
        "page=1&page_size=25": [d, b, a, c],  # every page of the filter, not just one
    }
    for query, expected in cases.items():
        assert ids(export(client, query)[2]) == expected, query
    # The list's Export link carries the page's filters.
    page = client.get("/admin/jobs/?flt0_status_equals=completed&search=export").get_data(
        as_text=True
    )
    link = re.search(r'href="(/admin/jobs/export\.csv[^"]*)" download', page)
    assert link
    url = html_lib.unescape(link.group(1))
    assert dict(parse_qsl(urlsplit(url).query)) == {
        "flt0_status_equals": "completed",
        "search": "export",
    }
    assert ids(export(client, urlsplit(url).query)[2]) == [b]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("a=b", "a=b"),
        ("plain", "plain"),
        (" =1", "' =1"),  # a spreadsheet import may trim the space
        ("\u00a0 +1", "'\u00a0 +1"),
        ("\ufeff@x", "'\ufeff@x"),
        (" a", " a"),
    ],
)
def test_export_neutralises_formulas_in_every_text_column(
    value: str, cell: str, app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = add(jobs, "test.fail_once", by=value, name=value, reference=value)
    jobs.work_off()
    probe.update(job_id, error=value)
    auth.login("admin")
    (row,) = export(client)[2]
    for column in ("Name", "Created by", "Reference", "Error"):
        assert row[column] == cell, column
    assert neutralise(value) == cell


def test_export_refused_without_the_permission(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    add(jobs, by="viewer")
    auth.login("viewer")
    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert "export.csv" not in page
    response = client.get("/admin/jobs/export.csv")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/jobs/"
    assert "text/csv" not in response.headers.get("Content-Type", "")


def test_export_of_a_user_without_view_all_has_only_own_jobs(
    app: Any, client: Any, auth: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from host_app import auth as host_auth

    def check(user: Any, permission: str, job: Any = None) -> bool:
        if getattr(user, "role", "") == "viewer" and permission == "export":
            return True
        return host_auth.check_permission(user, permission, job)

    monkeypatch.setattr(jobs.access, "checker", check)
    own = [add(jobs, by="viewer", name=f"own {i}") for i in range(2)]
    other = add(jobs, by="admin", name="other")
    auth.login("viewer")
    assert sorted(ids(export(client)[2])) == own
    for query in (
        "flt0_created_by_equals=admin",
        f"search={other}",
        "search=other",
        "flt0_created_within=all&search=admin",
    ):
        assert ids(export(client, query)[2]) == [], query
    auth.logout()
    auth.login("operator")
    assert sorted(ids(export(client)[2])) == [*own, other]


@pytest.mark.parametrize(
    "value",
    [
        "\u2007=1+1",  # FIGURE SPACE
        "\u3000+1",  # IDEOGRAPHIC SPACE
        "\u200b@SUM(A1)",  # ZERO WIDTH SPACE
        "\u2009\u200b -1",  # a thin space, a zero-width space and a space
        "\uff1d1+1",  # FULLWIDTH EQUALS SIGN
        "\uff0b1",  # FULLWIDTH PLUS SIGN
        "\uff0d1",  # FULLWIDTH HYPHEN-MINUS
        "\uff20SUM(A1)",  # FULLWIDTH COMMERCIAL AT
        "\uff5cSUM(A1)",  # FULLWIDTH VERTICAL LINE
        "|calc",  # a DDE call
        "\u3000\uff1dcmd|' /C calc'!A0",
    ],
)
def test_export_neutralises_formulas_behind_unicode_spaces_and_full_width_signs(
    value: str, app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    job_id = add(jobs, "test.fail_once", by=value, name=value, reference=value)
    jobs.work_off()
    probe.update(job_id, error=value)
    auth.login("admin")
    (row,) = export(client)[2]
    for column in ("Name", "Created by", "Reference", "Error"):
        assert row[column] == "'" + value, column
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["a\u3000=b", "x|y", "\u3000plain", "\u200bword", "\uff11\uff12"])
def test_export_leaves_text_that_is_no_formula_alone(value: str) -> None:
    assert neutralise(value) == value


# -- connections -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def test_export_gives_back_its_connection(backend: str, request: Any, jobs: Any, db: Any) -> None:
    """50 exports, read whole or closed after their first chunk, leave the pool as it was.

    Garbage collection is off: a connection left to a finaliser counts as leaked. Before the
    fix each export's stream borrowed the request's closed session and kept a connection
    checked out ("idle in transaction" on PostgreSQL) until a collection, so 15 exports filled
    the pool and stalled every request.
    """
    app = request.getfixturevalue(backend)
    with app.app_context():
        for i in range(3):
            add(jobs, name=f"job {i}")
        pool = db.engine.pool
    client = app.test_client()
    assert login(client, "operator").status_code == 302
    url = "/admin/jobs/export.csv?flt0_status_equals=pending"
    client.get(url).close()  # the pool's connections exist from here on
    start = pool.checkedout()
    gc.disable()
    try:
        for i in range(50):
            response = client.get(url, buffered=False)
            assert response.status_code == 200
            chunks = iter(response.response)
            first = next(chunks)
            assert (first.decode() if isinstance(first, bytes) else first).startswith("ID,")
            if i % 2:
                rest = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
                assert rest.count("\n") == 3  # the three pending jobs
            response.close()
            assert pool.checkedout() == start, f"export {i} kept a connection"
        # And the app still answers requests that need the database.
        assert client.get("/admin/jobs/").status_code == 200
    finally:
        gc.enable()
    assert pool.checkedout() == start


@pytest.mark.app_config(JOBS_ADMIN_MAX_EXPORTS=2)
def test_export_streams_at_most_max_exports_at_once(
    app: Any, client: Any, jobs: Any, db: Any
) -> None:
    """Each streaming export holds a connection while its browser downloads: past
    ``JOBS_ADMIN_MAX_EXPORTS`` the next is refused with a message, and a closed one (read
    whole, cut short or never read) gives its place back."""
    add(jobs)
    login(client, "operator")
    url = "/admin/jobs/export.csv"
    client.get(url).close()  # the request's own session has its connection from here on
    with app.app_context():
        start = db.engine.pool.checkedout()
    open_ones = []
    for _ in range(2):
        response = client.get(url, buffered=False)
        assert response.status_code == 200
        next(iter(response.response))  # downloading, slowly
        open_ones.append(response)
    refused = client.get(url)
    assert refused.status_code == 302
    with client.session_transaction() as session:
        assert [m for _c, m in session.pop("_flashes", [])] == [
            "2 exports are being downloaded already; try again when one has finished."
        ]
    with app.app_context():
        assert db.engine.pool.checkedout() == start + 2
    open_ones.pop().close()  # cut short
    never_read = client.get(url, buffered=False)
    assert never_read.status_code == 200
    never_read.close()  # closed without a byte read: the place comes back too
    whole = client.get(url)
    assert whole.status_code == 200 and whole.get_data(as_text=True).count("\n") == 2
    open_ones.pop().close()
    with app.app_context():
        assert db.engine.pool.checkedout() == start
