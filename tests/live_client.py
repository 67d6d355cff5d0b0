"""Helpers of the live-updates tests: a real HTTP server for an app, logins, a websocket client.

The server is ``werkzeug.serving.make_server`` (what ``flask run`` uses) in a thread of the test
process, so a test can change jobs through the same app and watch what its sockets receive. The
client is ``websocket-client``: a real socket, a real handshake, real frames.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import websocket
from flask import Flask
from werkzeug.serving import make_server

from tests.support import CSRF_FIELD, login


class LiveServer:
    """``app`` served over HTTP from a background thread (threaded, like ``flask run``)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/admin/jobs/ws"

    def stop(self) -> None:
        jobs = self.app.extensions["jobs_admin"]
        with self.app.app_context():
            jobs.stop_live()  # closes the sockets, whose handler threads then end
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


#: The repository's root: where ``wsgi.py`` and ``docs/deploy/`` are.
ROOT = Path(__file__).resolve().parent.parent


def gunicorn_example(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app`` (the README's deploy) with
    ``env``, its output in ``log``; the caller stops it."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "docs/deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait up to 30 s for a server process to accept connections on ``port``; fail with its
    log if it exits or never does."""
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def sign_in(base: str, username: str) -> str:
    """Sign in through a running server's login form, CSRF token included, as a browser does;
    return the ``Cookie`` header value of the session (password = user name)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/login", timeout=10) as page:
        token = CSRF_FIELD.search(page.read().decode())
    assert token, "no csrf_token on the login page"
    form = {"csrf_token": token[1], "username": username, "password": username}
    opener.open(base + "/login", data=urllib.parse.urlencode(form).encode(), timeout=10).close()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def login_cookie(app: Flask, username: str) -> str:
    """A ``Cookie`` header value with the session of ``username`` logged in (password = name)."""
    with app.test_client() as client:
        response = login(client, username)
        assert response.status_code == 302, f"login as {username} failed"
        cookie = client.get_cookie("session")
        assert cookie is not None
        return f"session={cookie.value}"


class WS:
    """A websocket-client connection that decodes and keeps every JSON message it receives."""

    def __init__(self, url: str, cookie: str | None = None, **options: Any) -> None:
        options.setdefault("timeout", 10)
        self.conn = websocket.create_connection(url, cookie=cookie, **options)
        self.messages: list[dict[str, Any]] = []

    def recv(self, timeout: float = 10) -> dict[str, Any]:
        """The next message (fails after ``timeout`` seconds)."""
        self.conn.settimeout(timeout)
        message = json.loads(self.conn.recv())
        self.messages.append(message)
        return message

    def until(
        self, predicate: Callable[[dict[str, Any]], Any], timeout: float = 10
    ) -> dict[str, Any]:
        """Read messages until one satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such message within {timeout} s: {self.messages[-5:]}")
            try:
                message = self.recv(left)
            except websocket.WebSocketTimeoutException:
                continue
            if predicate(message):
                return message

    def latest(self, job_id: int) -> dict[str, Any] | None:
        """The newest version of a job received so far."""
        found = [j for j in self.jobs() if j["id"] == job_id]
        return found[-1] if found else None

    def eventually(self, check: Callable[[], Any], timeout: float = 10) -> None:
        """Read messages until ``check()`` (which looks at what was received) holds."""
        if not check():
            self.until(lambda _m: check(), timeout)

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Every message received during ``seconds``."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.recv(left))
            except websocket.WebSocketTimeoutException:
                break
        return got

    def jobs(self) -> list[dict[str, Any]]:
        """Every job in every "changes" message so far, in order."""
        return [j for m in self.messages if m["type"] == "changes" for j in m["jobs"]]

    def close_frame(self, timeout: float = 10) -> tuple[int, str]:
        """Read until the server closes the socket; its close code and reason.

        JSON messages met on the way are kept, as :meth:`recv` does.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not closed within {timeout} s: {self.messages[-5:]}")
            self.conn.settimeout(left)
            try:
                # The raw frame: no automatic answer to a close (the server may be gone).
                frame = self.conn.recv_frame()
            except websocket.WebSocketTimeoutException:
                continue
            opcode = frame.opcode
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                return code, data[2:].decode("utf-8", "replace")
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.messages.append(json.loads(frame.data))

    def pong(self, payload: str = "sync", timeout: float = 30) -> None:
        """Ping the server and wait for its pong: it has handled everything sent before."""
        self.conn.ping(payload)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no pong within {timeout} s"
            self.conn.settimeout(left)
            opcode, frame = self.conn.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_PONG and frame.data == payload.encode():
                return
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.messages.append(json.loads(frame.data))

    def close(self) -> None:
        self.conn.close()


def has_job(job_id: int, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate: a "changes" message with job ``job_id`` having ``fields``."""

    def check(message: dict[str, Any]) -> bool:
        return message["type"] == "changes" and any(
            j["id"] == job_id and all(j.get(k) == v for k, v in fields.items())
            for j in message["jobs"]
        )

    return check


class WorkerProcess:
    """A real ``flask jobs worker`` process (``tests/scaleout_app.py``) on ``url``."""

    ROOT = Path(__file__).resolve().parent.parent

    def __init__(self, url: str, log: Path, **config: Any) -> None:
        env = {
            **os.environ,
            "FLASK_SQLALCHEMY_DATABASE_URI": url,
            "FLASK_SECRET_KEY": "live",
            "FLASK_JOBS_ADMIN_WORKER": "off",
            "FLASK_JOBS_ADMIN_POLL_INTERVAL": "0.2",
            "FLASK_JOBS_ADMIN_HOUSEKEEPING_CRON": "null",
            "FLASK_JOBS_ADMIN_RESULTS_DIR": str(log.parent / "results"),
            "PYTHONUNBUFFERED": "1",
        }
        env.update({f"FLASK_JOBS_ADMIN_{k}": str(v) for k, v in config.items()})
        self.log = log
        command = [sys.executable, "-m", "flask", "--app", "tests.scaleout_app:create_app"]
        with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [*command, "jobs", "worker", "--concurrency", "2"],
                cwd=self.ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; return the exit code (killed if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


# -- fixtures: import ``serve_fixture`` and ``connect_fixture`` into a test module to use them --


@pytest.fixture(name="serve")
def serve_fixture() -> Iterator[Callable[[Flask], LiveServer]]:
    """``serve(app)``: the app on a real HTTP server in a thread; stopped after the test."""
    made: list[LiveServer] = []

    def factory(app: Flask) -> LiveServer:
        server = LiveServer(app)
        made.append(server)
        return server

    yield factory
    for server in made:
        server.stop()


@pytest.fixture(name="connect")
def connect_fixture() -> Iterator[Callable[..., WS]]:
    """``connect(server, user="admin", since=None, **options)``: a logged-in websocket."""
    made: list[WS] = []

    def factory(
        server: LiveServer, user: str | None = "admin", since: str | None = None, **options: Any
    ) -> WS:
        cookie = login_cookie(server.app, user) if user else None
        url = server.ws_url + (f"?since={quote(since)}" if since else "")
        ws = WS(url, cookie, **options)
        made.append(ws)
        return ws

    yield factory
    for ws in made:
        ws.close()
