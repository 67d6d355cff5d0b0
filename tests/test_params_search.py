"""Search by params: ``params.KEY:VALUE`` terms in the search box, the filter and the API.

Every answer is checked against a plain scan of the params in Python (``ParamsTerm.matches``
over every job), on SQLite (json_extract) and PostgreSQL (jsonb containment, GIN index).
"""

from __future__ import annotations

import html as html_lib
from typing import Any

import pytest
import sqlalchemy as sa

from jobs_admin.errors import InvalidArgument
from jobs_admin.store.params import parse_term, split_search
from tests.test_admin_list import flashes
from tests.test_admin_visibility import row_ids

PARAMS: list[dict[str, Any]] = [
    {"customer": {"id": 4711, "name": "ACME feed"}, "feed": "ACME"},
    {"customer": {"id": "4711"}, "feed": "acme"},
    {"customer": {"id": 4711.0}, "feed": "ACME feed"},
    {"customer": {"id": 42}, "feed": 'say "hi"', "n": -2.5},
    {"customer": 4711, "flag": True, "n": 1},
    {"customer": {"id": [4711]}, "flag": 1, "empty": ""},
    {"feed": None, "tags": ["ACME"], "path\\x": "y"},
    {},
    {"customer": {"id": 47110}, "feed": "ACME\\1"},
]

TERMS = [
    "params.customer.id:4711",
    'params.customer.id:"4711"',
    "params.customer.id:42",
    'params.customer.name:"ACME feed"',
    "params.feed:ACME",
    'params.feed:"ACME feed"',
    'params.feed:"say \\"hi\\""',
    'params.feed:"ACME\\\\1"',
    "params.n:-2.5",
    "params.n:1",
    "params.flag:1",
    "params.flag:true",
    "params.customer:4711",
    'params.empty:""',
    "params.feed:nothing-matches",
    "params.no.such.key:1",
    "params.tags:ACME",
]


def _seed(jobs: Any) -> dict[int, dict[str, Any]]:
    seeded = {}
    for params in PARAMS:
        job = jobs.enqueue("test.echo", params=params, name="Echo", created_by="admin")
        seeded[int(job.id)] = params
    jobs.db.session.commit()
    return seeded


def _search(jobs: Any, text: str) -> set[int]:
    clauses = jobs.store.search_clauses(jobs.db.session, text)
    return set(jobs.db.session.scalars(sa.select(jobs.Job.id).where(*clauses)))


def _scan(seeded: dict[int, dict[str, Any]], text: str) -> set[int]:
    found, words = split_search(text)
    assert not words
    return {i for i, params in seeded.items() if all(t.matches(params) for t in found)}


def test_params_search_agrees_with_a_scan(app: Any, jobs: Any) -> None:
    with app.app_context():
        seeded = _seed(jobs)
        for term in TERMS:
            assert _search(jobs, term) == _scan(seeded, term), term
        # Several terms are AND-ed.
        both = "params.customer.id:4711 params.feed:ACME"
        assert _search(jobs, both) == _scan(seeded, both) == {min(seeded)}


def test_params_search_scan_answers_are_the_expected_ones(app: Any, jobs: Any) -> None:
    # The scan itself, pinned: a number matches the number and the same string, a quoted
    # value the string only, never a boolean, an array or a longer number.
    with app.app_context():
        seeded = _seed(jobs)
        ids = sorted(seeded)
        assert _search(jobs, "params.customer.id:4711") == {ids[0], ids[1], ids[2]}
        assert _search(jobs, 'params.customer.id:"4711"') == {ids[1]}
        assert _search(jobs, "params.flag:1") == {ids[5]}
        assert _search(jobs, 'params.feed:"say \\"hi\\""') == {ids[3]}
        assert _search(jobs, "params.tags:ACME") == set()


def test_params_search_and_free_text_combine(app: Any, jobs: Any) -> None:
    with app.app_context():
        seeded = _seed(jobs)
        other = jobs.enqueue("test.echo", params={"feed": "ACME"}, name="Other", commit=True)
        assert _search(jobs, "params.feed:ACME") == {min(seeded), int(other.id)}
        assert _search(jobs, "Other params.feed:ACME") == {int(other.id)}


@pytest.mark.parametrize(
    "term",
    [
        "params.customer.id",
        "params.:1",
        "params.a..b:1",
        "params.a b:1",
        "params.feed:",
        'params.feed:"open',
        'params.feed:"a"b"',
        "params.k$:1",
    ],
)
def test_params_term_bad_ones_are_refused(term: str) -> None:
    with pytest.raises(InvalidArgument):
        split_search(term)


def test_params_term_quotes_keep_spaces_and_escapes() -> None:
    found, words = split_search('invoice params.feed:"ACME  feed" params.a.b:"x\\"y" 12')
    assert words == ["invoice", "12"]
    assert [(t.path, t.value, t.quoted) for t in found] == [
        (("feed",), "ACME  feed", True),
        (("a", "b"), 'x"y', True),
    ]
    assert parse_term("n:007").number is None  # not a JSON number: the string only
    assert parse_term("n:12").candidates() == [12, "12"]
    assert str(parse_term('feed:"A B"')) == 'params.feed:"A B"'


def test_list_search_box_finds_by_params(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    with app.app_context():
        seeded = _seed(jobs)
    auth.login("admin")
    html = client.get(
        "/admin/jobs/", query_string={"search": 'params.customer.name:"ACME feed"'}
    ).get_data(as_text=True)
    assert row_ids(html) == {min(seeded)}
    assert not flashes(client)


def test_list_params_filter_matches_like_the_search(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    with app.app_context():
        seeded = _seed(jobs)
        expected = _scan(seeded, "params.customer.id:4711")
    auth.login("admin")
    response = client.get("/admin/jobs/", query_string={"flt0_params_equals": "customer.id:4711"})
    assert response.status_code == 200
    assert row_ids(response.get_data(as_text=True)) == expected


def test_list_bad_params_term_is_a_flash_not_a_500(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    with app.app_context():
        seeded = _seed(jobs)
    auth.login("admin")
    response = client.get("/admin/jobs/", query_string={"search": 'params.feed:"open'})
    assert response.status_code == 200
    html = html_lib.unescape(response.get_data(as_text=True))
    said = "The params term 'params.feed:\"open' has a quote that is not closed; the search is"
    assert said in html
    assert row_ids(html) == set(seeded)
    bad_filter = client.get("/admin/jobs/", query_string={"flt0_params_equals": "nokey"})
    assert bad_filter.status_code == 200
    assert "Invalid value " in bad_filter.get_data(as_text=True)


def test_api_jobs_accepts_params_terms(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    with app.app_context():
        seeded = _seed(jobs)
    auth.login("admin")
    body = client.get("/admin/jobs/api/jobs", query_string={"search": "params.feed:acme"})
    assert body.status_code == 200
    assert {job["id"] for job in body.get_json()["jobs"]} == _scan(seeded, "params.feed:acme")
    bad = client.get("/admin/jobs/api/jobs", query_string={"search": "params.feed"})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["argument"] == "search"
