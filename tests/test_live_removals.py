"""Live sockets follow deletions and the session: a deleted or pruned job is sent as a removal
(its row leaves every open list), and a real sign-out closes the socket as "Signed out".

Real sockets on a real server (``tests/live_client.py``); both databases (the PostgreSQL pass
reruns this module).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, g
from wsproto.utilities import LocalProtocolError

from jobs_admin.live import SIGNED_OUT
from jobs_admin.live import websocket as live_websocket
from tests.live_client import (  # noqa: F401 (fixtures)
    WS,
    connect_fixture,
    has_job,
    serve_fixture,
)
from tests.support import login, logout


def finished(app: Flask, jobs: Any, by: str = "admin") -> int:
    """A job of ``by`` that ran and completed."""
    with app.app_context():
        job_id = int(jobs.enqueue("test.noop", created_by=by, commit=True).id)
        jobs.work_off()
        assert jobs.get(job_id).status == "completed"
        return job_id


def delete(app: Flask, jobs: Any, job_id: int) -> None:
    with app.app_context():
        jobs.delete(jobs.get(job_id))


def removed(job_id: int) -> Any:
    return lambda m: m.get("type") == "changes" and job_id in m.get("removed", ())


def test_live_deleted_job_leaves_every_socket_with_its_counts(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    keep = finished(app, jobs)
    doomed = finished(app, jobs)
    server = serve(app)
    admin, operator = connect(server), connect(server, "operator")
    for ws in (admin, operator):
        assert ws.recv()["counts"]["completed"] == 2
    delete(app, jobs, doomed)
    for ws in (admin, operator):
        message = ws.until(removed(doomed))
        assert message["removed"] == [doomed]
        assert message["counts"]["completed"] == 1 and message["counts"]["total"] == 1
        assert doomed not in [j["id"] for j in message["jobs"]]
    # Nothing is sent twice, and later changes still come through (the removal's cursor
    # number is never handed out again).
    assert not [m for m in admin.quiet(0.5) if doomed in m.get("removed", ())]
    with app.app_context():
        jobs.delete(jobs.get(keep))
    admin.until(removed(keep))
    fresh = finished(app, jobs)
    admin.until(has_job(fresh, status="completed"))


def test_live_pruned_jobs_are_sent_as_removals(
    app: Flask, jobs: Any, db: Any, serve: Any, connect: Any
) -> None:
    old = [finished(app, jobs) for _ in range(3)]
    recent = finished(app, jobs)
    with app.app_context():
        j = jobs.Job
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        db.session.execute(sa.update(j).where(j.id.in_(old)).values(finished_at=long_ago))
        db.session.commit()
    server = serve(app)
    ws = connect(server)
    ws.recv()
    with app.app_context():
        assert jobs.prune(days=30) == 3
    message = ws.until(lambda m: set(old) <= set(_all_removed(ws)))
    assert recent not in _all_removed(ws)
    assert message["counts"]["total"] == 1


def _all_removed(ws: WS) -> list[int]:
    return [i for m in ws.messages for i in m.get("removed", ())]


def test_live_removals_reach_only_users_who_may_see_the_job(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    theirs = finished(app, jobs, by="admin")
    mine = finished(app, jobs, by="viewer")
    server = serve(app)
    viewer = connect(server, "viewer")  # view, without view_all: own jobs only
    viewer.recv()
    delete(app, jobs, theirs)
    delete(app, jobs, mine)
    viewer.until(removed(mine))
    viewer.quiet(0.3)
    assert theirs not in _all_removed(viewer)


def test_live_catch_up_after_a_reconnect_includes_removals(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    doomed = finished(app, jobs)
    with app.app_context():
        cursor = jobs.live_cursor()
    delete(app, jobs, doomed)
    server = serve(app)
    # The page was rendered before the deletion: its socket's catch-up removes the row.
    ws = connect(server, since=cursor)
    snapshot = ws.recv()
    assert snapshot["type"] == "snapshot" and snapshot["resync"] is False
    message = ws.recv()
    assert message["type"] == "changes" and message["removed"] == [doomed]
    ws.quiet(0.3)
    assert _all_removed(ws) == [doomed]


def test_live_removal_records_older_than_kept_are_forgotten(
    app: Flask, jobs: Any, db: Any, monkeypatch: Any
) -> None:
    first = finished(app, jobs)
    delete(app, jobs, first)
    with app.app_context():
        r = jobs.store.removals
        assert db.session.execute(sa.select(r.c.job_id)).scalars().all() == [first]
        hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        db.session.execute(sa.update(r).values(removed_at=hours_ago))
        db.session.commit()
    second = finished(app, jobs)
    delete(app, jobs, second)
    with app.app_context():
        assert db.session.execute(sa.select(r.c.job_id)).scalars().all() == [second]


@pytest.mark.app_config(JOBS_ADMIN_LIVE_RECHECK=0.2)
def test_live_socket_closes_as_signed_out_after_a_real_sign_out(app: Flask, serve: Any) -> None:
    """The demo's sign-out (a POST with its CSRF token) ends every session of the user; an open
    socket of the signed-out session is closed with 4401 at its next recheck."""
    server = serve(app)
    with app.test_client() as client:
        assert login(client, "admin").status_code == 302
        cookie = client.get_cookie("session")
        assert cookie is not None
        ws = WS(server.ws_url, f"session={cookie.value}")
        ws.recv()
        assert logout(client).status_code == 302
    code, reason = ws.close_frame(timeout=5)
    assert (code, reason) == (SIGNED_OUT, "signed out")


class _ClosingSocket:
    """A socket whose connection started closing (the server's ping timed out, say) but that
    the handler still sees as connected: wsproto refuses every message from then on."""

    connected = True
    closing = True
    on_end = None

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: str) -> None:
        self.sent += 1
        raise LocalProtocolError("Event TextMessage cannot be sent in state LOCAL_CLOSING")

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        pass


def test_live_handler_ends_quietly_when_its_connection_started_closing(
    app: Flask, jobs: Any
) -> None:
    """Seen in the load test: a client too starved to answer pings got the server's close frame,
    then the next message raised from wsproto and the handler logged a 500."""
    ws = _ClosingSocket()
    with app.test_request_context("/admin/jobs/ws"):
        g.jobs_admin_live = (True, "admin", None, None)
        assert live_websocket.serve(jobs.runtime(app), ws) is None
    assert ws.sent == 0
