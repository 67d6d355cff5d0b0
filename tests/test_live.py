"""Live updates: the websocket protocol against a real server with real websocket clients.

Handshake checks (login, ``view``, origin), the snapshot and change messages, per-user
visibility, catch-up from a page's cursor and after a reconnect, order and no duplicates under
concurrent writers, transactions that commit out of order (PostgreSQL), cursor numbers never
reused after deletes (SQLite), changes made by separate ``flask jobs worker`` processes, and a
feed whose cost does not grow with its sockets.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import websocket
from flask import Flask

from host_app.models import User
from jobs_admin import changes
from jobs_admin.live import Subscriber, subscriber
from jobs_admin.live import _reads as live_reads
from jobs_admin.live import feed as live
from tests.live_client import (  # noqa: F401 (fixtures)
    WS,
    WorkerProcess,
    connect_fixture,
    free_port,
    has_job,
    login_cookie,
    serve_fixture,
    sign_in,
    wait_until_listening,
)
from tests.scaleout_app import MARKER_DDL

pytestmark = pytest.mark.app_config(JOBS_ADMIN_LIVE_INTERVAL=0.05)

GHOST = "ghost:1:test"  # the worker make_job("running") claims jobs for (it never runs them)


def enqueue(
    app: Flask, jobs: Any, by: str = "admin", job_type: str = "test.noop", **kw: Any
) -> int:
    with app.app_context():
        return int(jobs.enqueue(job_type, created_by=by, commit=True, **kw).id)


def progress(app: Flask, jobs: Any, db: Any, job_id: int, **values: Any) -> None:
    """Write progress of a job the ghost worker holds, as a worker does."""
    with app.app_context(), db.engine.begin() as conn:
        assert jobs.store.progress(conn, job_id, GHOST, values)


def refused(url: str, **options: Any) -> int:
    """The HTTP status a refused handshake got."""
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        WS(url, **options).close()
    return int(exc.value.status_code)


# -- handshake -------------------------------------------------------------------------------


def test_handshake_needs_a_login_the_view_permission_and_the_same_origin(
    app: Flask, db: Any, serve: Any
) -> None:
    with app.app_context():
        nobody = User(username="nobody", email="nobody@shop.example", role="nobody")
        nobody.set_password("nobody")
        db.session.add(nobody)
        db.session.commit()
    server = serve(app)
    url = server.ws_url
    admin = login_cookie(app, "admin")
    assert refused(url) == 401
    assert refused(url, cookie="session=forged") == 401
    assert refused(url, cookie=login_cookie(app, "nobody")) == 403  # logged in, no 'view'
    assert refused(url, cookie=admin, origin="http://evil.example") == 403
    assert refused(url, cookie=admin, origin="null") == 403
    assert refused(url, cookie=admin, origin=f"http://127.0.0.1:{server.port + 1}") == 403
    assert refused(url, cookie=admin, origin=f"http://localhost:{server.port}") == 403
    # The same origin, and a program that sends no Origin at all (no browser does that).
    for options in ({"origin": server.base}, {"suppress_origin": True}):
        ws = WS(url, admin, **options)
        assert ws.recv()["type"] == "snapshot"
        ws.close()
    # Not a websocket request at all.
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(server.base + "/admin/jobs/ws")
    assert exc.value.code == 400
    exc.value.close()


@pytest.mark.app_config(JOBS_ADMIN_LIVE_ORIGINS="https://admin.shop.example, http://proxy:8080")
def test_configured_origins_are_allowed_too(app: Flask, serve: Any) -> None:
    server = serve(app)
    admin = login_cookie(app, "admin")
    for origin in (
        "https://admin.shop.example",
        "https://ADMIN.shop.example:443",
        "http://proxy:8080",
    ):
        ws = WS(server.ws_url, admin, origin=origin)
        assert ws.recv()["type"] == "snapshot"
        ws.close()
    assert refused(server.ws_url, cookie=admin, origin="https://admin.shop.example:8443") == 403
    assert refused(server.ws_url, cookie=admin, origin="http://admin.shop.example") == 403
    assert app.extensions["jobs_admin"].settings(app).live_origins == (
        "https://admin.shop.example",
        "http://proxy:8080",
    )


def test_a_malformed_origin_setting_is_refused_at_startup(make_app: Any) -> None:
    with pytest.raises(ValueError, match="JOBS_ADMIN_LIVE_ORIGINS"):
        make_app(JOBS_ADMIN_LIVE_ORIGINS=["admin.shop.example"])


# -- messages --------------------------------------------------------------------------------


def test_snapshot_then_changes_with_counts(app: Flask, jobs: Any, serve: Any, connect: Any) -> None:
    ws = connect(serve(app))
    snapshot = ws.recv()
    assert snapshot["type"] == "snapshot"
    assert snapshot["resync"] is False
    with app.app_context():
        assert snapshot["counts"] == jobs.counts()
    job_id = enqueue(app, jobs, job_type="test.items", count=3, name="Three items")
    message = ws.until(has_job(job_id, status="pending"))
    assert message["counts"]["pending"] == 1 and message["counts"]["total"] == 1
    with app.app_context():
        jobs.work_off()
    message = ws.until(has_job(job_id, status="completed"))
    job = next(j for j in message["jobs"] if j["id"] == job_id)
    assert (job["progress_done"], job["progress_total"], job["progress_failed"]) == (3, 3, 0)
    assert job["name"] == "Three items" and job["message"] == "3 done, 0 failed"
    assert job["created_by"] == "admin" and job["finished_at"] and job["updated_at"]
    assert message["counts"]["completed"] == 1 and message["counts"]["pending"] == 0
    # What a page shows, and nothing it does not (params, results and tracebacks stay home).
    assert {"id", "status", "phase", "progress_total", "message", "updated_at"} <= set(job)
    assert not {"params", "result", "traceback", "change_seq"} & set(job)
    assert isinstance(message["cursor"], str)


def test_a_user_without_view_all_gets_only_own_jobs_and_own_counts(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    with app.app_context():
        cursor = jobs.live_cursor()
    before = {who: enqueue(app, jobs, by=who) for who in ("admin", "viewer", "operator")}
    server = serve(app)
    viewer = connect(server, "viewer", since=cursor)
    admin = connect(server, "admin", since=cursor)
    assert viewer.recv()["counts"]["total"] == 1
    assert admin.recv()["counts"]["total"] == 3
    # The catch-up from the page's cursor is filtered too.
    assert [j["id"] for j in viewer.recv()["jobs"]] == [before["viewer"]]
    assert sorted(j["id"] for j in admin.recv()["jobs"]) == sorted(before.values())
    mine = enqueue(app, jobs, by="viewer", job_type="test.items", count=2)
    theirs = enqueue(app, jobs, by="operator", job_type="test.fail_once")
    with app.app_context():
        jobs.work_off()
    admin.eventually(
        lambda: (
            (admin.latest(theirs) or {}).get("status") == "failed"
            and (admin.latest(mine) or {}).get("status") == "completed"
        )
    )
    message = viewer.until(has_job(mine, status="completed"))
    viewer.quiet(0.3)
    assert {j["id"] for j in viewer.jobs()} == {before["viewer"], mine}
    assert all(j["created_by"] == "viewer" for j in viewer.jobs())
    assert message["counts"] == {
        "pending": 0,
        "running": 0,
        "completed": 2,
        "partial": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 2,
    }
    assert {theirs, mine} <= {j["id"] for j in admin.jobs()}


def test_the_pages_carry_the_cursor_their_socket_resumes_from(
    app: Flask, jobs: Any, serve: Any, connect: Any, client: Any, auth: Any
) -> None:
    job_id = enqueue(app, jobs)
    auth.login("admin")

    def config(path: str) -> dict[str, Any]:
        page = client.get(path).get_data(as_text=True)
        match = re.search(r"data-live='([^']*)'", page)
        assert match, path
        return dict(json.loads(html.unescape(match.group(1))))

    listing = config("/admin/jobs/")
    assert listing["page"] == "list" and listing["ws"] == "/admin/jobs/ws"
    assert listing["user"] == "admin" and listing["job"] is None
    assert listing["details"] == "/admin/jobs/details/"
    assert listing["badges"]["running"] == "badge-primary"
    detail = config(f"/admin/jobs/details/?id={job_id}")
    assert detail["page"] == "details" and detail["job"] == job_id
    # Changes after the page was rendered, before its socket connects, are not lost.
    with app.app_context():
        jobs.cancel(job_id)
    later = enqueue(app, jobs)
    ws = connect(serve(app), since=listing["since"])
    assert ws.recv()["type"] == "snapshot"
    caught_up = ws.recv()
    assert {j["id"]: j["status"] for j in caught_up["jobs"]} == {
        job_id: "cancelled",
        later: "pending",
    }


def test_a_reconnect_catches_up_from_the_last_cursor_without_repeats(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    server = serve(app)
    ws = connect(server)
    ws.recv()
    first = enqueue(app, jobs)
    cursor = ws.until(has_job(first))["cursor"]
    ws.close()
    # While the browser is away:
    second = enqueue(app, jobs)
    with app.app_context():
        jobs.cancel(first)
    again = connect(server, since=cursor)
    snapshot = again.recv()
    assert snapshot["type"] == "snapshot" and snapshot["resync"] is False
    assert snapshot["counts"]["cancelled"] == 1 and snapshot["counts"]["pending"] == 1
    missed = again.recv()
    assert {j["id"]: j["status"] for j in missed["jobs"]} == {
        first: "cancelled",
        second: "pending",
    }
    third = enqueue(app, jobs)
    again.until(has_job(third))
    again.quiet(0.3)
    ids = [j["id"] for j in again.jobs()]
    assert sorted(ids) == sorted([first, second, third]), "each change once"


def test_an_unusable_cursor_gets_a_resync_and_disturbs_nobody(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    server = serve(app)
    good = connect(server)
    good.recv()
    for since in (
        "garbage",
        "s:-1",
        "s:99999999999999999999",
        "p:5:3:",
        "p:3:9:1",
        "p:3:9:7,5",
        "p:99999999999999999999:99999999999999999999:",
        "x" * 30000,
    ):
        bad = connect(server, since=since)
        snapshot = bad.recv()
        assert snapshot["type"] == "snapshot" and snapshot["resync"] is True, since
        bad.close()
    job_id = enqueue(app, jobs)
    good.until(has_job(job_id))


def _costly_cursors_get_a_resync(
    app: Flask, jobs: Any, serve: Any, connect: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(live_reads, "SCAN_LIMIT", 10)
    for _ in range(15):
        enqueue(app, jobs)
    with app.app_context():
        recent = jobs.live_cursor()
    changed = sorted(enqueue(app, jobs) for _ in range(3))
    with app.app_context():
        now = jobs.live_cursor()
    server = serve(app)
    # A cursor handed out a moment ago still catches up.
    ws = connect(server, since=recent)
    assert ws.recv()["resync"] is False
    assert sorted(j["id"] for j in ws.recv()["jobs"]) == changed
    if now.startswith("p:"):
        xmax = int(now.split(":")[2])
        # "Every transaction from 1 on is seen": a read of the whole table for nothing.
        crafted = [f"p:1:{xmax}:", f"p:{xmax + 100}:{xmax + 100}:"]
    else:
        crafted = ["s:0", f"s:{int(now[2:]) + 5}"]
    for since in crafted:
        bad = connect(server, since=since)
        snapshot = bad.recv()
        assert snapshot["type"] == "snapshot" and snapshot["resync"] is True, since
        assert not [m for m in bad.quiet(0.3) if m["type"] == "changes" and m["jobs"]], since
        bad.close()
    job_id = enqueue(app, jobs)
    ws.until(has_job(job_id))


def test_live_cursor_too_costly_or_ahead_gets_a_resync_sqlite(
    app: Flask, jobs: Any, serve: Any, connect: Any, monkeypatch: Any
) -> None:
    _costly_cursors_get_a_resync(app, jobs, serve, connect, monkeypatch)


@pytest.mark.postgres
def test_live_cursor_too_costly_or_ahead_gets_a_resync_postgres(
    pg_app: Flask, jobs: Any, serve: Any, connect: Any, monkeypatch: Any
) -> None:
    _costly_cursors_get_a_resync(pg_app, jobs, serve, connect, monkeypatch)


# -- order, duplicates, out-of-order commits -------------------------------------------------


def test_each_version_reaches_each_socket_once_and_in_order(
    app: Flask, jobs: Any, db: Any, make_job: Any, serve: Any, connect: Any
) -> None:
    with app.app_context():
        ids = [make_job("running") for _ in range(4)]
    server = serve(app)
    sockets = [connect(server) for _ in range(3)]
    for ws in sockets:
        ws.recv()
    steps = 30

    def writer(job_id: int) -> None:
        for n in range(1, steps + 1):
            progress(app, jobs, db, job_id, progress_done=n, progress_total=steps)
            time.sleep(0.002)

    threads = [threading.Thread(target=writer, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def finished(ws: WS) -> Callable[[dict[str, Any]], bool]:
        return lambda _m: {j["id"] for j in ws.jobs() if j["progress_done"] == steps} == set(ids)

    for ws in sockets:
        ws.until(finished(ws))
        ws.quiet(0.2)
        versions: dict[int, list[tuple[int, str]]] = {}
        for job in ws.jobs():
            versions.setdefault(job["id"], []).append((job["progress_done"], job["updated_at"]))
        assert set(versions) == set(ids)
        for seen in versions.values():
            # Strictly increasing: never an older version after a newer one, never one twice.
            assert seen == sorted(set(seen)), seen
            assert seen[-1][0] == steps


@pytest.mark.postgres
def test_a_transaction_that_commits_after_a_later_one_is_not_missed(
    pg_app: Flask, jobs: Any, db: Any, make_job: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    with pg_app.app_context():
        first, second = make_job("running"), make_job("running")
        engine = db.engine
    ws = connect(serve(pg_app))
    ws.recv()
    store = jobs.store_of(pg_app)
    j = store.jobs
    with (
        pg_app.app_context(),
        engine.connect() as one,
        engine.connect() as two,
        one.begin() as early,
    ):
        assert store.progress(one, first, GHOST, {"progress_done": 1})
        with two.begin():
            assert store.progress(two, second, GHOST, {"progress_done": 1})
            seq = sa.select(j.c.change_seq)
            low = one.execute(seq.where(j.c.id == first)).scalar()
            high = two.execute(seq.where(j.c.id == second)).scalar()
            # The transaction that wrote first took the lower number...
            assert low < high
        # ...and the later one commits first: a reader that remembered "high" as its cursor
        # would never look at "low" again.
        ws.until(has_job(second, progress_done=1))
        feed = jobs.live_feed(pg_app)
        reads = feed.reads
        wait_for(lambda: feed.reads >= reads + 3)
        assert not any(j["id"] == first for j in ws.jobs())
        early.commit()
    ws.until(has_job(first, progress_done=1))
    ws.quiet(0.3)
    ids = [j["id"] for j in ws.jobs()]
    assert ids.count(first) == 1 and ids.count(second) == 1


def test_sqlite_numbers_follow_commit_order(app: Flask, jobs: Any, db: Any, make_job: Any) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's single writer")
        first, second = make_job("running"), make_job("running")
        cursor = jobs.live_cursor()
        engine = db.engine
    store = jobs.store
    done = threading.Event()
    with app.app_context(), engine.connect() as one:
        with one.begin():
            assert store.progress(one, first, GHOST, {"progress_done": 1})

            def later() -> None:
                progress(app, jobs, db, second, progress_done=1)
                done.set()

            thread = threading.Thread(target=later)
            thread.start()
            # The second writer waits for the first one's commit: it cannot commit first.
            assert not done.wait(0.5)
        thread.join(10)
        assert done.is_set()
        batch = changes.read(one, store.jobs, cursor, limit=10)
    seqs = {job["id"]: job["change_seq"] for job in batch.jobs}
    assert seqs[first] < seqs[second]


def test_deleting_the_newest_jobs_does_not_hide_the_next_change(
    app: Flask, jobs: Any, db: Any, make_job: Any
) -> None:
    with app.app_context():
        older = make_job("pending")
        newest = make_job("completed")
        store = jobs.store
        with db.engine.connect() as conn:
            cursor = store.change_cursor(conn)
        jobs.delete(newest)
        jobs.cancel(older)
        with db.engine.connect() as conn:
            batch = changes.read(conn, store.jobs, cursor, limit=10)
            floor = conn.execute(sa.select(store.floor_table)).all()
            sqlite = conn.dialect.name == "sqlite"
    assert [(j["id"], j["status"]) for j in batch.jobs] == [(older, "cancelled")]
    if sqlite:
        # The deleted job held the highest number; new numbers start above it.
        assert floor and floor[0].seq == int(cursor[2:])


# -- across processes ------------------------------------------------------------------------


def _worker_changes_reach_the_socket(
    app: Flask, url: str, tmp_path: Path, jobs: Any, db: Any, serve: Any, connect: Any
) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text(MARKER_DDL))
    worker = WorkerProcess(url, tmp_path / "worker.log", PROGRESS_INTERVAL=0)
    try:
        ws = connect(serve(app))
        ws.recv()
        job_id = enqueue(app, jobs, job_type="scale.resumable", items=8, delay=0.15)
        # Progress written by the other process, while it runs...
        running = ws.until(
            lambda m: (
                has_job(job_id, status="running")(m)
                and any(0 < j["progress_done"] < 8 for j in m["jobs"] if j["id"] == job_id)
            ),
            timeout=30,
        )
        assert running["counts"]["running"] == 1
        # ...and its end.
        done = ws.until(has_job(job_id, status="completed"), timeout=30)
        assert done["counts"]["completed"] == 1
        assert next(j for j in done["jobs"] if j["id"] == job_id)["progress_done"] == 8
    finally:
        code = worker.stop()
    assert code == 0, worker.output()


def test_changes_of_a_worker_process_reach_the_browser_sqlite(
    app: Flask, tmp_path: Path, jobs: Any, db: Any, serve: Any, connect: Any
) -> None:
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    _worker_changes_reach_the_socket(app, url, tmp_path, jobs, db, serve, connect)


@pytest.mark.postgres
def test_changes_of_a_worker_process_reach_the_browser_postgres(
    pg_app: Flask, pg_url: str, tmp_path: Path, jobs: Any, db: Any, serve: Any, connect: Any
) -> None:
    _worker_changes_reach_the_socket(pg_app, pg_url, tmp_path, jobs, db, serve, connect)


@pytest.mark.postgres
@pytest.mark.app_config(JOBS_ADMIN_LIVE_INTERVAL=30)
def test_notify_wakes_the_feed_for_a_change_made_elsewhere(
    pg_app: Flask, pg_url: str, jobs: Any, make_job: Any, serve: Any, connect: Any
) -> None:
    with pg_app.app_context():
        job_id = make_job("running")
    ws = connect(serve(pg_app))
    ws.recv()
    feed = jobs.live_feed(pg_app)
    assert feed.listening.wait(10)
    # Another engine, like another process: none of this app's commit hooks see it.
    other = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        start = time.monotonic()
        with other.begin() as conn:
            assert jobs.store_of(pg_app).progress(conn, job_id, GHOST, {"progress_done": 7})
        ws.until(has_job(job_id, progress_done=7), timeout=10)
        assert time.monotonic() - start < 3, "woken by NOTIFY, not by the 30 s poll"
    finally:
        other.dispose()


@pytest.mark.app_config(JOBS_ADMIN_LIVE_INTERVAL=30)
def test_a_commit_elsewhere_wakes_the_sqlite_feed_within_milliseconds(
    app: Flask, jobs: Any, db: Any, make_job: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite-only: PostgreSQL's NOTIFY has its own test")
        url = db.engine.url
        job_id = make_job("running")
    ws = connect(serve(app))
    ws.recv()
    feed = jobs.live_feed(app)
    wait_for(lambda: feed.reads >= 1)
    # Another engine, like another process: none of this app's commit hooks see it.
    other = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        for done in (3, 4, 5):
            reads = feed.reads
            start = time.monotonic()
            with other.begin() as conn:
                assert jobs.store.progress(conn, job_id, GHOST, {"progress_done": done})
            ws.until(has_job(job_id, progress_done=done), timeout=10)
            assert time.monotonic() - start < 1, "woken by data_version, not by the 30 s poll"
            # One read per commit: the watch does not wake the feed again for what it read.
            time.sleep(0.2)
            assert feed.reads == reads + 1
    finally:
        other.dispose()


@pytest.mark.app_config(JOBS_ADMIN_LIVE_INTERVAL=30)
def test_a_commit_in_this_process_wakes_the_feed_at_once(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    ws = connect(serve(app))
    ws.recv()
    start = time.monotonic()
    job_id = enqueue(app, jobs, job_type="test.items", count=2)  # through db.session
    ws.until(has_job(job_id, status="pending"), timeout=10)
    with app.app_context():
        jobs.work_off()  # through plain connections
    ws.until(has_job(job_id, status="completed"), timeout=10)
    assert time.monotonic() - start < 5, "woken by the commits, not by the 30 s poll"


# -- the feed's cost -------------------------------------------------------------------------


@pytest.mark.app_config(JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER=25)
def test_feed_reads_cost_the_same_for_one_socket_or_many(
    app: Flask, jobs: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    server = serve(app)
    first = connect(server)
    first.recv()
    feed = jobs.live_feed(app)

    def per_read() -> float:
        reads, queries = feed.reads, feed.queries
        wait_for(lambda: feed.reads >= reads + 10)
        return (feed.queries - queries) / (feed.reads - reads)

    one = per_read()
    assert one == 2  # what changed, and the counts
    many = [connect(server) for _ in range(20)]
    for ws in many:
        ws.recv()
    assert per_read() == one
    # Users who see only their own jobs add one counts query, for all of them together.
    viewer = connect(server, "viewer")
    viewer.recv()
    assert per_read() == one + 1
    viewers = [connect(server, "viewer") for _ in range(10)]
    for ws in viewers:
        ws.recv()
    assert per_read() == one + 1


def test_the_feed_reads_only_while_sockets_are_open(
    app: Flask, jobs: Any, serve: Any, connect: Any, wait_for: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(live, "LINGER", 0.3)
    server = serve(app)
    feed = jobs.live_feed(app)
    assert not feed.running and feed.reads == 0
    ws = connect(server)
    ws.recv()
    assert feed.running and feed.sockets == 1
    ws.close()
    wait_for(lambda: not feed.running, timeout=10)
    reads = feed.reads
    time.sleep(0.3)
    assert feed.reads == reads
    again = connect(server)
    assert again.recv()["type"] == "snapshot"
    assert feed.running


def test_a_socket_that_falls_behind_is_dropped_to_reconnect() -> None:
    sub = Subscriber(True, "admin", None)
    for n in range(subscriber.QUEUE_LIMIT):
        sub.offer(f"message {n}")
    assert sub.closed is None
    sub.offer("one too many")
    assert sub.closed and sub.close_code == subscriber.TRY_AGAIN


def test_cursor_arithmetic() -> None:
    assert changes.valid("s:12", "sqlite") and not changes.valid("s:12", "postgresql")
    assert changes.valid("p:10:20:12,15", "postgresql")
    assert not changes.valid("p:10:20:15,12", "postgresql")  # not sorted
    assert not changes.valid("p:10:20:25", "postgresql")  # in progress beyond xmax
    snap = "p:10:20:12,15"
    assert changes.seen(snap, 9) and changes.seen(snap, 11)
    assert not changes.seen(snap, 12) and not changes.seen(snap, 20)
    assert changes.seen("s:5", 5) and not changes.seen("s:5", 6) and changes.seen("s:5", None)
    assert changes.covers("p:16:22:", snap) and changes.covers("p:12:22:12,15", snap)
    assert not changes.covers("p:12:22:12,13", snap)  # 13 was visible at snap, not here
    assert not changes.covers("p:10:19:12,15", snap)
    assert changes.covers("s:7", "s:7") and not changes.covers("s:6", "s:7")
    assert changes.later("s:7", "s:5") == "s:7" and changes.later("p:1:2:", "p:3:4:") == "p:3:4:"


# -- gunicorn --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_gunicorn_workers_and_a_worker_process_reach_every_browser(
    pg_app: Flask, pg_url: str, tmp_path: Path, jobs: Any, db: Any, connect: Any
) -> None:
    """Two gunicorn gthread workers serve the sockets, a ``flask jobs worker`` runs the job."""
    import os
    import subprocess
    import sys

    with pg_app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text(MARKER_DDL))
    port = free_port()
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": pg_url,
        "FLASK_SECRET_KEY": "live",
        "FLASK_JOBS_ADMIN_WORKER": "off",
        "FLASK_JOBS_ADMIN_LIVE_INTERVAL": "5",  # NOTIFY must do the work
        "FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER": "8",  # one user's 8 tabs, as it happens
    }
    root = Path(__file__).resolve().parent.parent
    with open(tmp_path / "gunicorn.log", "wb") as out:
        web = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8",
                "-b", f"127.0.0.1:{port}", "tests.scaleout_app:create_app()",
            ],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    worker = WorkerProcess(pg_url, tmp_path / "worker.log", PROGRESS_INTERVAL=0)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_listening(port, web, tmp_path / "gunicorn.log")
        cookie = sign_in(base, "admin")
        sockets = []
        for _ in range(8):
            ws = WS(f"ws://127.0.0.1:{port}/admin/jobs/ws", cookie, origin=base)
            sockets.append(ws)
            assert ws.recv()["type"] == "snapshot"
        job_id = enqueue(pg_app, jobs, job_type="scale.resumable", items=4, delay=0.1)
        start = time.monotonic()
        for ws in sockets:
            ws.until(has_job(job_id, status="completed"), timeout=30)
        assert time.monotonic() - start < 10
        for ws in sockets:
            ws.close()
    finally:
        web.terminate()
        web.wait(30)
        code = worker.stop()
    assert code == 0, worker.output()
