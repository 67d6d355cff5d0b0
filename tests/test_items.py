"""Recorded items (``record_items=True``): the context's batches, the store's keyset pages, the
detail page's Items table and its CSV, and their deletion with the job."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin.context import ITEM_BATCH, JobContext
from jobs_admin.models import ITEM_EVENT, utcnow
from tests.support import login

BACKENDS = ["app", pytest.param("pg_app", marks=pytest.mark.postgres)]


def _add(jobs: Any, job_type: str = "test.record", by: str = "admin", **params: Any) -> int:
    return int(jobs.enqueue(job_type, created_by=by, commit=True, params=params).id)


def _items(jobs: Any, job_id: int) -> list[Any]:
    i = jobs.models.JobItem
    return list(
        jobs.db.session.execute(
            sa.select(i.seq, i.key, i.outcome, i.message, i.step, i.attempt)
            .where(i.job_id == job_id)
            .order_by(i.seq)
        )
    )


def _client(app: Flask, user: str = "admin") -> Any:
    client = app.test_client()
    login(client, user)
    return client


def _context(writes: list[tuple[dict[str, Any], list[dict[str, Any]]]], **kw: Any) -> JobContext:
    def flush(values: dict[str, Any], events: list[dict[str, Any]]) -> bool:
        writes.append((values, events))
        return True

    options: dict[str, Any] = {
        "job_id": 1,
        "job_type": "t",
        "params": {},
        "attempt": 1,
        "max_attempts": 1,
        "progress_total": None,
        "progress_done": 0,
        "progress_failed": 0,
        "results_dir": None,
        "timeout": None,
        "flush": flush,
        # Never due by time (monotonic() may be past any interval since boot): by count only.
        "progress_interval": float("inf"),
        **kw,
    }
    return JobContext(**options)


# -- the context -----------------------------------------------------------------------------


def test_item_done_counts_like_advance_and_records_only_with_record_items() -> None:
    writes: list[Any] = []
    plain = _context(writes)
    plain.item_done("a")
    plain.flush()
    assert plain.done == 1
    assert not [e for _v, evs in writes for e in evs if e["kind"] == ITEM_EVENT]

    writes.clear()
    ctx = _context(writes, record_items=True)
    ctx.step("Load")
    ctx.item_done("a", "created")
    ctx.item_failed("b", ValueError("bad price"))
    ctx.flush()
    items = [e for _v, evs in writes for e in evs if e["kind"] == ITEM_EVENT]
    assert [(e["seq"], e["key"], e["outcome"], e["message"], e["step"]) for e in items] == [
        (0, "a", "ok", "created", "Load"),
        (1, "b", "failed", "bad price", "Load"),
    ]
    assert ctx.done == 1 and ctx.failed == 1


def test_items_are_flushed_in_batches_not_per_item() -> None:
    writes: list[Any] = []
    ctx = _context(writes, record_items=True)
    for n in range(ITEM_BATCH * 3 + 10):
        ctx.item_done(n)
    ctx.flush()
    sizes = [sum(1 for e in evs if e["kind"] == ITEM_EVENT) for _v, evs in writes]
    assert sizes == [ITEM_BATCH, ITEM_BATCH, ITEM_BATCH, 10]


def test_items_put_back_by_a_busy_database_wait_a_batch_before_the_next_try() -> None:
    calls: list[int] = []

    def busy(values: dict[str, Any], events: list[dict[str, Any]]) -> None:
        calls.append(len(events))
        return None  # the database is locked: everything stays buffered

    ctx = _context([], record_items=True, flush=busy)
    for n in range(ITEM_BATCH + 100):
        ctx.item_done(n)
    # One try at the batch, none at each of the next hundred items.
    assert calls == [ITEM_BATCH]


def test_a_step_records_the_number_of_its_first_item() -> None:
    writes: list[Any] = []
    ctx = _context(writes, record_items=True, progress_done=5, progress_failed=2)
    ctx.step("One")
    ctx.item_done("x")
    ctx.step("Two")
    ctx.flush()
    steps = [e["data"]["item"] for _v, evs in writes for e in evs if e["kind"] == "step"]
    assert steps == [7, 8]  # a resumed run numbers on after what it had handled


# -- the store and the page ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_record_items_job_fills_the_items_table(backend: str, request: Any, jobs: Any) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        job_id = _add(jobs, count=10, fail_every=4)
        jobs.work_off()
        rows = _items(jobs, job_id)
        assert [r.key for r in rows] == [f"items-{n}" for n in range(10)]
        assert [r.outcome for r in rows].count("failed") == 3  # 0, 4, 8
        assert {r.step for r in rows[:5]} == {"First half"}
        assert {r.step for r in rows[5:]} == {"Second half"}
        assert rows[1].message == "fine" and rows[2].message is None
        assert {r.attempt for r in rows} == {1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_item_pages_go_by_keyset_forwards_and_backwards(
    backend: str, request: Any, jobs: Any
) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        job_id = _add(jobs, count=25, fail_every=3)
        jobs.work_off()
        conn = jobs.db.session.connection()
        page = jobs.store.item_page(conn, job_id, 1, limit=10)
        assert [r.seq for r in page.rows] == list(range(10)) and page.newer and not page.older
        nxt = jobs.store.item_page(conn, job_id, 1, after=page.last, limit=10)
        assert [r.seq for r in nxt.rows] == list(range(10, 20)) and nxt.older
        last = jobs.store.item_page(conn, job_id, 1, after=nxt.last, limit=10)
        assert [r.seq for r in last.rows] == list(range(20, 25)) and not last.newer
        back = jobs.store.item_page(conn, job_id, 1, before=last.first, limit=10)
        assert [r.seq for r in back.rows] == list(range(10, 20)) and back.older
        failed = jobs.store.item_page(conn, job_id, 1, outcome="failed", limit=4)
        assert [r.seq for r in failed.rows] == [0, 3, 6, 9] and failed.newer
        assert {r.outcome for r in failed.rows} == {"failed"}
        step = jobs.store.item_page(conn, job_id, 1, start=12, stop=15, limit=10)
        assert [r.seq for r in step.rows] == [12, 13, 14] and not step.newer


@pytest.mark.parametrize("backend", BACKENDS)
def test_detail_page_shows_a_filtered_page_of_items(backend: str, request: Any, jobs: Any) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        job_id = _add(jobs, count=120, fail_every=10, label="<b>x")
        jobs.work_off()
    client = _client(app)
    html = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert 'id="jobs-admin-items"' in html
    assert "jobs-admin-failed-items" not in html  # the Items table replaces it
    assert html.count("data-seq=") == 25
    assert "&lt;b&gt;x-1" in html and "<b>x" not in html
    nxt = re.search(r'class="page-link jobs-admin-items-next" href="([^"]+)"', html)
    assert nxt is not None
    second = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert 'data-seq="25"' in second and 'data-seq="0"' not in second
    failed = client.get(f"/admin/jobs/details/?id={job_id}&items=failed").get_data(as_text=True)
    assert failed.count("data-seq=") == 12
    assert failed.count('<span class="badge badge-danger">failed</span>') >= 12


def test_detail_page_without_record_items_keeps_the_failed_items_table(
    app: Flask, jobs: Any
) -> None:
    with app.app_context():
        job_id = _add(jobs, "test.items", count=4, fail_every=2)
        jobs.work_off()
    html = _client(app).get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert "jobs-admin-failed-items" in html and 'id="jobs-admin-items"' not in html


@pytest.mark.parametrize("backend", BACKENDS)
def test_items_csv_exports_every_item_formula_guarded(
    backend: str, request: Any, jobs: Any
) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        job_id = _add(jobs, count=6, fail_every=5, label="=cmd")
        jobs.work_off()
    client = _client(app)
    response = client.get(f"/admin/jobs/{job_id}/items.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["#", "Item", "Outcome", "Message", "Step", "At"]
    assert [r[1] for r in rows[1:]] == [f"'=cmd-{n}" for n in range(6)]
    assert [r[2] for r in rows[1:]] == ["failed", "ok", "ok", "ok", "ok", "failed"]
    failed = client.get(f"/admin/jobs/{job_id}/items.csv?items=failed").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(failed)))) == 3


def test_items_csv_needs_export_and_sight_of_the_job(app: Flask, jobs: Any) -> None:
    with app.app_context():
        mine = _add(jobs, count=2, by="viewer")
        theirs = _add(jobs, count=2, by="admin")
        jobs.work_off()
    viewer = _client(app, "viewer")  # has "view" only, sees its own jobs
    refused = viewer.get(f"/admin/jobs/{mine}/items.csv")
    assert refused.status_code == 302 and refused.mimetype != "text/csv"
    assert viewer.get(f"/admin/jobs/{theirs}/items.csv").status_code == 302


@pytest.mark.parametrize("backend", BACKENDS)
def test_deleting_and_pruning_a_job_deletes_its_items(
    backend: str, request: Any, jobs: Any
) -> None:
    app = request.getfixturevalue(backend)
    with app.app_context():
        one = _add(jobs, count=5)
        two = _add(jobs, count=5)
        jobs.work_off()
        jobs.delete(one, user=None)
        assert _items(jobs, one) == [] and len(_items(jobs, two)) == 5
        t = jobs.store.jobs
        jobs.db.session.execute(
            sa.update(t).where(t.c.id == two).values(finished_at=utcnow() - timedelta(days=40))
        )
        jobs.db.session.commit()
        assert jobs.prune(days=30) == 1
        assert _items(jobs, two) == []
