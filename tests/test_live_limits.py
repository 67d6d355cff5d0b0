"""Live updates under abuse: client floods, socket caps, sessions that end while a socket is open.

Real sockets against a real server (:class:`tests.live_client.LiveServer`), as in
``tests/test_live.py``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
import tracemalloc
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import websocket
from flask import Flask

from host_app.models import User
from jobs_admin.live import FORBIDDEN, SIGNED_OUT, TOO_MANY, _socket
from jobs_admin.live.websocket import SERVER_ERROR
from tests.live_client import (  # noqa: F401 (fixtures)
    WS,
    connect_fixture,
    free_port,
    gunicorn_example,
    has_job,
    login_cookie,
    serve_fixture,
    sign_in,
    wait_until_listening,
)

pytestmark = pytest.mark.app_config(JOBS_ADMIN_LIVE_INTERVAL=0.05)

MB = 1024 * 1024


def enqueue(app: Flask, jobs: Any, by: str = "admin") -> int:
    with app.app_context():
        return int(jobs.enqueue("test.noop", created_by=by, commit=True).id)


def set_role(app: Flask, db: Any, username: str, role: str) -> None:
    with app.app_context():
        db.session.execute(sa.update(User).where(User.username == username).values(role=role))
        db.session.commit()


def flood(ws: WS, count: int, size: int) -> None:
    """Send ``count`` text messages of ``size`` bytes; stop quietly when the server closed."""
    payload = "x" * size
    try:
        for _ in range(count):
            ws.conn.send(payload)
    except (BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException):
        pass


# -- what the client sends -------------------------------------------------------------------


def test_live_socket_drops_client_messages_without_keeping_them(
    app: Flask, jobs: Any, serve: Any, connect: Any, monkeypatch: Any
) -> None:
    # Without the flood limit, to see that messages are read and dropped, not kept.
    monkeypatch.setattr(_socket, "CLIENT_BURST", 10**9)
    ws = connect(serve(app))
    assert ws.recv()["type"] == "snapshot"
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flood(ws, 10_000, 4000)  # 40 MB, each message under max_message_size (4096)
        ws.pong()  # the server read everything sent before the ping
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 3 * MB, f"the server kept {grown / MB:.1f} MB of client messages"
    # The socket still works.
    job_id = enqueue(app, jobs)
    ws.until(has_job(job_id, status="pending"))


def test_live_socket_closes_on_a_flood_of_client_messages(
    app: Flask, jobs: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    server = serve(app)
    ws = connect(server)
    ws.recv()
    flood(ws, 1000, 100)
    code, reason = ws.close_frame()
    assert code == 1008 and "too many messages" in reason
    feed = jobs.live_feed(app)
    wait_for(lambda: feed.sockets == 0)


def test_live_socket_closes_on_a_client_message_that_is_too_big(
    app: Flask, jobs: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    ws = connect(serve(app))
    ws.recv()
    ws.conn.send("x" * 5000)
    assert ws.close_frame() == (1009, "message too big")
    wait_for(lambda: jobs.live_feed(app).sockets == 0)


def test_live_socket_offers_no_compression_and_refuses_compressed_frames(
    app: Flask, serve: Any, connect: Any
) -> None:
    server = serve(app)
    ws = connect(server, header=["Sec-WebSocket-Extensions: permessage-deflate"])
    headers = {k.lower(): v for k, v in (ws.conn.getheaders() or {}).items()}
    assert "sec-websocket-extensions" not in headers
    ws.recv()
    # A client that compresses anyway (RSV1 set) breaks the protocol: closed, nothing inflated.
    frame = websocket.ABNF(fin=1, rsv1=1, opcode=websocket.ABNF.OPCODE_TEXT, data=b"\x00" * 50)
    ws.conn.send_frame(frame)
    code, _reason = ws.close_frame()
    assert code == 1002


# -- caps ------------------------------------------------------------------------------------


def test_live_socket_per_user_cap_refuses_the_fifth_tab(
    app: Flask, jobs: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    server = serve(app)
    feed = jobs.live_feed(app)
    tabs = [connect(server) for _ in range(4)]
    for tab in tabs:
        assert tab.recv()["type"] == "snapshot"
    fifth = connect(server)
    code, reason = fifth.close_frame()
    assert code == TOO_MANY and "too many open tabs" in reason
    assert not fifth.messages  # no snapshot, nothing else
    # Another user still gets theirs.
    viewer = connect(server, "viewer")
    assert viewer.recv()["type"] == "snapshot"
    assert feed.sockets == 5
    # Closing a tab frees its place.
    tabs.pop().close()
    wait_for(lambda: feed.sockets == 4)
    again = connect(server)
    assert again.recv()["type"] == "snapshot"
    job_id = enqueue(app, jobs)
    again.until(has_job(job_id))


@pytest.mark.app_config(JOBS_ADMIN_LIVE_MAX_SOCKETS=3)
def test_live_socket_per_process_cap_refuses_every_user_past_it(
    app: Flask, jobs: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    server = serve(app)
    feed = jobs.live_feed(app)
    held = [connect(server), connect(server), connect(server, "viewer")]
    for ws in held:
        ws.recv()
    operator = connect(server, "operator")
    assert operator.close_frame()[0] == TOO_MANY
    held.pop().close()
    wait_for(lambda: feed.sockets == 2)
    operator = connect(server, "operator")
    assert operator.recv()["type"] == "snapshot"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("JOBS_ADMIN_LIVE_MAX_SOCKETS", 0),
        ("JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER", 0),
        ("JOBS_ADMIN_LIVE_RECHECK", 0),
    ],
)
def test_live_socket_settings_that_cannot_work_are_refused_at_startup(
    make_app: Any, key: str, value: int
) -> None:
    with pytest.raises(ValueError, match=key):
        make_app(**{key: value})


# -- sockets follow the session --------------------------------------------------------------


@pytest.mark.app_config(JOBS_ADMIN_LIVE_RECHECK=0.2)
def test_live_socket_closes_when_the_checker_stops_granting_view(
    app: Flask, db: Any, jobs: Any, serve: Any, connect: Any, wait_for: Any
) -> None:
    server = serve(app)
    ws = connect(server, "viewer")
    ws.recv()
    set_role(app, db, "viewer", "nobody")
    code, reason = ws.close_frame(timeout=5)
    assert code == FORBIDDEN and "view" in reason
    wait_for(lambda: jobs.live_feed(app).sockets == 0)


@pytest.mark.app_config(JOBS_ADMIN_LIVE_RECHECK=0.2)
def test_live_socket_closes_when_the_session_no_longer_loads_a_user(
    app: Flask, jobs: Any, serve: Any, connect: Any, monkeypatch: Any
) -> None:
    server = serve(app)
    ws = connect(server)
    ws.recv()
    other = connect(server, "viewer")
    other.recv()
    # What a host does at logout or revocation, seen from Flask-Login: the session's user id
    # (a per-session token, a version) no longer loads anyone.
    loader = app.login_manager._user_callback  # type: ignore[attr-defined]

    def revoked(user_id: str) -> Any:
        user = loader(user_id)
        return None if user is not None and user.username == "admin" else user

    monkeypatch.setattr(app.login_manager, "_user_callback", revoked)
    code, reason = ws.close_frame(timeout=5)
    assert code == SIGNED_OUT and reason == "signed out"
    # Other sessions go on.
    job_id = enqueue(app, jobs, by="viewer")
    other.until(has_job(job_id))


@pytest.mark.app_config(JOBS_ADMIN_LIVE_RECHECK=0.1)
def test_live_socket_closes_when_its_user_cannot_be_checked_again(
    app: Flask, serve: Any, connect: Any, monkeypatch: Any
) -> None:
    """A host's user loader that raises (a revoked user's ``get_or_404``, say) does not leave
    the socket streaming for ever: after a few failed rechecks in a row it is closed."""
    server = serve(app)
    ws = connect(server)
    ws.recv()

    def broken(user_id: str) -> Any:
        raise LookupError("no such user")

    monkeypatch.setattr(app.login_manager, "_user_callback", broken)
    code, reason = ws.close_frame(timeout=5)
    assert (code, reason) == (SERVER_ERROR, "could not check the session")


def test_live_socket_over_the_cap_frees_its_server_thread_at_once(
    app: Flask, serve: Any, connect: Any, wait_for: Any
) -> None:
    """A refused tab whose client never answers the close frame used to hold a server thread
    for 2 s, so refused attempts could still starve the server's thread pool."""
    server = serve(app)
    tabs = [connect(server) for _ in range(4)]
    for tab in tabs:
        tab.recv()

    def socket_threads() -> int:
        # The server's request threads: under gunicorn, the pool's threads.
        return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name)

    before = socket_threads()
    refused = []
    for _ in range(10):
        extra = connect(server)
        frame = extra.conn.recv_frame()  # the close frame, left unanswered
        assert int.from_bytes(frame.data[:2], "big") == TOO_MANY
        refused.append(extra)
    # Each attempt's threads end within the short wait, not CLOSE_WAIT (2 s) each.
    wait_for(lambda: socket_threads() <= before, timeout=1.5)


@pytest.mark.app_config(JOBS_ADMIN_LIVE_RECHECK=0.2)
def test_live_socket_narrows_to_own_jobs_when_view_all_is_withdrawn(
    app: Flask, db: Any, jobs: Any, serve: Any, connect: Any
) -> None:
    server = serve(app)
    ws = connect(server, "operator")
    assert ws.recv()["counts"]["total"] == 0
    theirs = enqueue(app, jobs, by="admin")
    ws.until(has_job(theirs))
    set_role(app, db, "operator", "viewer")  # view, without view_all
    # The counts become the operator's own (none), then only own jobs come through.
    ws.until(lambda m: m.get("counts", {}).get("total") == 0, timeout=5)
    seen = len(ws.jobs())
    hidden = enqueue(app, jobs, by="admin")
    mine = enqueue(app, jobs, by="operator")
    message = ws.until(has_job(mine))
    assert message["counts"]["total"] == 1
    assert hidden not in [j["id"] for j in ws.jobs()[seen:]]
    ws.quiet(0.3)
    assert hidden not in [j["id"] for j in ws.jobs()[seen:]]


# -- the host's visibility condition ---------------------------------------------------------


def test_live_socket_follows_the_hosts_visibility_condition(
    app: Flask, jobs: Any, serve: Any, connect: Any
) -> None:
    """``@jobs.visible_jobs`` scopes a socket's jobs and counts as it scopes the list."""
    before = enqueue(app, jobs)
    with app.app_context():
        hidden_before = int(jobs.enqueue("test.fail_once", created_by="admin", commit=True).id)

    @jobs.visible_jobs
    def visible(user: Any) -> Any:
        return jobs.Job.type != "test.fail_once" if user.role == "operator" else None

    try:
        server = serve(app)
        operator = connect(server, "operator")
        admin = connect(server, "admin")
        first = operator.recv()
        assert first["counts"]["total"] == 1  # from the jobs table, by the condition
        assert admin.recv()["counts"]["total"] == 2  # from the counters
        with app.app_context():
            hidden = int(jobs.enqueue("test.fail_once", created_by="admin", commit=True).id)
        shown = enqueue(app, jobs)
        message = operator.until(has_job(shown))
        assert message["counts"]["total"] == 2
        admin.until(has_job(shown))
        assert hidden in [j["id"] for j in admin.jobs()]
        operator.quiet(0.3)
        assert {hidden, hidden_before} & {j["id"] for j in operator.jobs()} == set()
        # A catch-up from the first snapshot's cursor is scoped the same way.
        late = connect(server, "operator", since=first["cursor"])
        assert late.recv()["type"] == "snapshot"
        late.until(has_job(shown))
        late.quiet(0.3)
        assert hidden not in [j["id"] for j in late.jobs()]
        assert before not in [j["id"] for j in late.jobs()]  # unchanged since the cursor
    finally:
        jobs.access.visible = None


# -- the gunicorn example ----------------------------------------------------------------------


@pytest.mark.slow
def test_gunicorn_example_answers_login_while_one_user_opens_16_tabs(
    app: Flask, tmp_path: Path
) -> None:
    """``gunicorn -c docs/deploy/gunicorn.conf.py`` (2 workers x 8 threads): 16 sockets of one
    viewer used to take every thread, and ``/login`` stopped answering. Now each worker takes
    at most 2 of them (the per-user cap the config sets, half of the per-process cap of
    threads // 2 = 4) and closes the rest with 4429; the app still serves everyone else, live
    updates included."""
    root = Path(__file__).resolve().parent.parent
    port = free_port()
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "gunicorn-example-test-key",
        "FLASK_JOBS_ADMIN_WORKER": "off",
        "SHOP_BIND": f"127.0.0.1:{port}",
        "PYTHONPATH": str(root),
    }
    env.pop("FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS", None)
    env.pop("FLASK_JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER", None)
    log_path = tmp_path / "gunicorn.log"
    web = gunicorn_example(env, log_path)
    sockets: list[WS] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_listening(port, web, log_path)
        cookie = sign_in(base, "viewer")
        accepted = refused = 0
        for _ in range(16):
            ws = WS(f"ws://127.0.0.1:{port}/admin/jobs/ws", cookie, origin=base)
            sockets.append(ws)
            frame = ws.conn.recv_frame()
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                assert int.from_bytes(frame.data[:2], "big") == TOO_MANY
                refused += 1
            else:
                assert json.loads(frame.data)["type"] == "snapshot"
                accepted += 1
        # At most 2 per worker (half of its 4 socket places) for one user.
        assert accepted <= 4 and refused >= 12, (accepted, refused)
        # Every other request still gets a thread: the login page, and another user's login.
        for _ in range(5):
            with urllib.request.urlopen(base + "/login", timeout=5) as page:
                assert page.status == 200
        # And another user still gets live updates, whichever worker takes the socket.
        admin_cookie = sign_in(base, "admin")
        for _ in range(2):
            ws = WS(f"ws://127.0.0.1:{port}/admin/jobs/ws", admin_cookie, origin=base)
            sockets.append(ws)
            assert ws.recv()["type"] == "snapshot"
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                ws.conn.close()
        web.terminate()
        web.wait(40)
