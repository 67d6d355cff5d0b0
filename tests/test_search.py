"""Search over jobs: exact id/reference/creator/type, substrings of names and references.

On SQLite substrings come from the FTS5 trigram index (kept in step by triggers), on
PostgreSQL from the trigram GIN indexes; both must give what a plain scan would.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from jobs_admin.models import SEARCH_TABLE
from jobs_admin.store import search


def _ids(jobs: Any, term: str) -> set[int]:
    j = jobs.Job
    clause = jobs.store.search_clause(jobs.db.session, term)
    return set(jobs.db.session.scalars(sa.select(j.id).where(clause)))


def _scan(jobs: Any, term: str) -> set[int]:
    """What a plain case-insensitive scan finds for ``term`` (the reference answer)."""
    low = term.lower()
    rows = jobs.db.session.execute(
        sa.select(
            jobs.Job.id, jobs.Job.name, jobs.Job.reference, jobs.Job.created_by, jobs.Job.type
        )
    ).all()
    digits = term.lstrip("#")
    number = int(digits) if digits.isdigit() else None
    return {
        job_id
        for job_id, name, reference, created_by, type_ in rows
        if low in (name or "").lower()
        or low in (reference or "").lower()
        or term in (reference, created_by, type_)
        or number == job_id
    }


def _enqueue(jobs: Any, name: str, reference: str | None = None, by: str = "admin") -> int:
    return int(jobs.enqueue("test.noop", name=name, reference=reference, created_by=by).id)


def test_search_finds_what_a_scan_finds(app: Any, jobs: Any) -> None:
    with app.app_context():
        for i in range(40):
            _enqueue(jobs, f"Nightly export {i:03d}", f"PO-{10000 + i}")
        _enqueue(jobs, 'Quote "this" 50% off_now', "REF_1", by="operator")
        _enqueue(jobs, "Ünïcode Catalogue", None)
        jobs.db.session.commit()
        for term in (
            "export",
            "EXPORT",
            "PO-1001",
            "10039",
            "007",
            "50%",
            "off_",
            '"this"',
            "REF_1",
            "operator",
            "test.noop",
            "1",
            "#1",
            "ünï",
            "xyz-none",
            "po",
        ):
            assert _ids(jobs, term) == _scan(jobs, term), term


def test_search_index_follows_renames_and_deletes(app: Any, jobs: Any, make_job: Any) -> None:
    with app.app_context():
        job_id = make_job("completed")
        jobs.db.session.execute(
            sa.update(jobs.Job).where(jobs.Job.id == job_id).values(name="Spring catalogue")
        )
        jobs.db.session.commit()
        assert _ids(jobs, "catalogue") == {job_id}
        jobs.db.session.execute(
            sa.update(jobs.Job).where(jobs.Job.id == job_id).values(name="Autumn brochure")
        )
        jobs.db.session.commit()
        assert _ids(jobs, "catalogue") == set()
        assert _ids(jobs, "brochure") == {job_id}
        jobs.delete(job_id)
        assert _ids(jobs, "brochure") == set()


def test_search_sqlite_uses_the_trigram_index_for_rare_terms(app: Any, jobs: Any) -> None:
    with app.app_context():
        if jobs.db.engine.dialect.name != "sqlite":
            pytest.skip("the FTS5 index is SQLite's")
        rare = _enqueue(jobs, "Quarterly VAT filing", "VAT-2026-Q3")
        for i in range(30):
            _enqueue(jobs, f"Import feed {i}")
        jobs.db.session.commit()
        count = sa.text(f"SELECT count(*) FROM {SEARCH_TABLE}")
        assert jobs.db.session.execute(count).scalar() == 31
        clause = jobs.store.search_clause(jobs.db.session, "vat filing")
        assert SEARCH_TABLE in str(clause.compile(jobs.db.engine))
        assert _ids(jobs, "vat filing") == {rare}
        # A two-letter term has no trigram: the LIKE walk serves it.
        assert SEARCH_TABLE not in str(
            jobs.store.search_clause(jobs.db.session, "at").compile(jobs.db.engine)
        )


def test_search_sqlite_common_terms_walk_the_index(
    app: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        if jobs.db.engine.dialect.name != "sqlite":
            pytest.skip("the FTS5 index is SQLite's")
        monkeypatch.setattr(search, "FTS_MATCH_CAP", 5)
        ids = {_enqueue(jobs, f"Import feed {i}") for i in range(8)}
        jobs.db.session.commit()
        clause = jobs.store.search_clause(jobs.db.session, "feed")
        assert SEARCH_TABLE not in str(clause.compile(jobs.db.engine))
        assert _ids(jobs, "feed") == ids


def test_search_admin_list_uses_it(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    with app.app_context():
        wanted = _enqueue(jobs, "Winter catalogue export", "CAT-2026-0815")
        _enqueue(jobs, "Import ACME feed", "PO-4242")
        jobs.db.session.commit()
    auth.login("admin")
    html = client.get("/admin/jobs/?search=catalogue").get_data(as_text=True)
    assert f'value="{wanted}"' in html and "Import ACME feed" not in html
