"""Locust users of the load test: admins who click through the Jobs pages, a socket open each.

Run by ``bench/load/run.py`` (which starts the servers, the workers and the enqueuer, then checks
the database); alone: ``locust -f bench/load/locustfile.py --host http://127.0.0.1:8000``.

Each simulated admin signs in through the login form, opens the Jobs list, and from then on keeps
the list's live socket open (as the page does: connected with the page's cursor, reconnecting
with the last cursor it got) while it clicks: the KPI tiles, a filter, a search, the next pages,
a job's detail page, and the row refresh the live script asks for. Requests are named by page, so
Locust's statistics are per page.

Environment (all optional):

``LOAD_START_AT``, ``LOAD_STOP_AT``
    Unix times between which the users click (signed in, their sockets open, they wait for the
    first; their sockets stay open after the second until Locust stops): the page timings cover
    the load window only, the socket counts the whole run.
``LOAD_REFERENCE``
    The reference prefix of the jobs enqueued in this run: the sockets record which of those
    jobs they saw end.
``LOAD_WS_REPORT``
    A JSON file written when Locust quits: per socket, the messages and job rows received, the
    run's job ends seen (and seen twice), resyncs and reconnects.
``LOAD_USERNAME``
    The demo user the admins sign in as (``admin``).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from typing import Any

import gevent
import websocket
from locust import HttpUser, between, events, task
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

START_AT = float(os.environ.get("LOAD_START_AT") or 0)
STOP_AT = float(os.environ.get("LOAD_STOP_AT") or 0)
REFERENCE = os.environ.get("LOAD_REFERENCE", "load-")
WS_REPORT = os.environ.get("LOAD_WS_REPORT")
USERNAME = os.environ.get("LOAD_USERNAME", "admin")
ENDED = {"completed", "failed", "partial", "cancelled"}

LIST = "/admin/jobs/"
TILES = ("pending", "running", "completed", "failed", "partial", "cancelled")
FILTERS = (
    "?flt0_type_equals=search.reindex",
    "?flt0_status_equals=failed&flt1_created_within=7d",
    "?flt0_created_within=1d",
    "?flt0_type_equals=reports.broken",
)
SEARCHES = ("load", "winter", "ACME", "Globex", "report")

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_SINCE = re.compile(r'"since": ?"([^"]*)"')
_DETAIL = re.compile(r"details/\?id=(\d+)")

#: Every socket's tally, written to LOAD_WS_REPORT at the end.
SOCKETS: list[LiveTally] = []


class LiveTally:
    """What one admin's live socket received over the run."""

    def __init__(self) -> None:
        self.messages = 0
        self.changes = 0
        self.rows = 0
        self.resyncs = 0
        self.reconnects = 0
        self.closes: list[int | None] = []
        self.ended: set[int] = set()
        #: (id, updated_at) of every ended version seen: a later version of an ended job (an
        #: audit event, say) is news; the same version twice is a doubled delivery.
        self.versions: set[tuple[int, str]] = set()
        self.doubled: set[int] = set()
        self.opened_at: float | None = None
        self.cursor: str | None = None

    def take(self, message: dict[str, Any]) -> None:
        self.messages += 1
        self.cursor = message.get("cursor") or self.cursor
        if message.get("resync"):
            self.resyncs += 1
        if message.get("type") != "changes":
            return
        self.changes += 1
        for job in message.get("jobs", ()):
            self.rows += 1
            if job.get("status") in ENDED and str(job.get("reference") or "").startswith(REFERENCE):
                version = (job["id"], str(job.get("updated_at")))
                if version in self.versions:
                    self.doubled.add(job["id"])
                self.versions.add(version)
                self.ended.add(job["id"])

    def report(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "changes": self.changes,
            "rows": self.rows,
            "resyncs": self.resyncs,
            "reconnects": self.reconnects,
            "closes": self.closes,
            "opened_at": self.opened_at,
            "ended": sorted(self.ended),
            "doubled": sorted(self.doubled),
        }


class Admin(HttpUser):
    """One admin in a browser: signs in, opens the list, keeps its socket open, clicks."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        # As a browser does: a GET sent on a kept-alive connection that the server closed at
        # that moment (gunicorn drops idle ones after its keepalive, 2 s, shorter than the
        # admins' pauses) is sent again once, instead of failing with "RemoteDisconnected".
        retry = Retry(total=1, connect=1, read=1, status=0, allowed_methods=frozenset({"GET"}))
        self.client.mount("http://", HTTPAdapter(max_retries=retry))
        page = self.client.get("/login", name="login form")
        token = _TOKEN.search(page.text)
        self.client.post(
            "/login",
            data={
                "csrf_token": token[1] if token else "",
                "username": USERNAME,
                "password": USERNAME,
            },
            name="login",
        )
        self.ids: list[int] = []
        since = self._list(LIST, "list: sign-in")
        self.tally = LiveTally()
        SOCKETS.append(self.tally)
        self._socket = gevent.spawn(self._listen, since)

    def on_stop(self) -> None:
        self._socket.kill(block=False)

    # -- the live socket ---------------------------------------------------------------------

    def _listen(self, since: str | None) -> None:
        base = self.host.rstrip("/")
        ws_base = "ws" + base[4:] + LIST + "ws"
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.client.cookies)
        while True:
            cursor = self.tally.cursor or since
            url = ws_base + (f"?since={cursor}" if cursor else "")
            code: int | None = None
            started = time.perf_counter()
            try:
                conn = websocket.create_connection(url, cookie=cookie, origin=base, timeout=60)
            except Exception as exc:
                self._fire("ws connect", started, exc)
                time.sleep(1)
                self.tally.reconnects += 1
                continue
            self._fire("ws connect", started, None)
            if self.tally.opened_at is None:
                self.tally.opened_at = time.time()
            try:
                while True:
                    opcode, data = conn.recv_data()
                    if opcode == websocket.ABNF.OPCODE_CLOSE:
                        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                        break
                    if opcode == websocket.ABNF.OPCODE_TEXT:
                        self.tally.take(json.loads(data))
            except websocket.WebSocketConnectionClosedException:
                pass
            except Exception as exc:  # a timeout: nothing, not even a ping, for 60 s
                self._fire("ws receive", time.perf_counter(), exc)
            self.tally.closes.append(code)
            conn.close()
            self.tally.reconnects += 1
            time.sleep(1)

    def _fire(self, name: str, started: float, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exc,
            context={},
        )

    # -- the pages ---------------------------------------------------------------------------

    def _list(self, path: str, name: str) -> str | None:
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200 or "jobs-admin-live" not in response.text:
                response.failure(
                    f"{response.status_code}: not the jobs list ({response.error or ''})"
                )
                return None
            ids = [int(i) for i in _DETAIL.findall(response.text)]
            if ids:
                self.ids = ids
            since = _SINCE.search(response.text)
            return since[1] if since else None

    def _clicking(self) -> bool:
        now = time.time()
        if now < START_AT:
            time.sleep(min(1.0, START_AT - now))
            return False
        if STOP_AT and now >= STOP_AT:
            time.sleep(1)
            return False
        return True

    @task(4)
    def list_page(self) -> None:
        if self._clicking():
            self._list(LIST, "list")

    @task(3)
    def tile(self) -> None:
        if self._clicking():
            self._list(f"{LIST}?flt0_status_equals={random.choice(TILES)}", "list: tile")

    @task(2)
    def filtered(self) -> None:
        if self._clicking():
            self._list(LIST + random.choice(FILTERS), "list: filter")

    @task(2)
    def search(self) -> None:
        if self._clicking():
            self._list(f"{LIST}?search={random.choice(SEARCHES)}", "list: search")

    @task(2)
    def next_page(self) -> None:
        if self._clicking():
            self._list(f"{LIST}?page={random.randint(1, 20)}", "list: page")

    @task(4)
    def detail(self) -> None:
        if self._clicking() and self.ids:
            job_id = random.choice(self.ids)
            with self.client.get(
                f"{LIST}details/?id={job_id}", name="detail", catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}")

    @task(2)
    def rows(self) -> None:
        if self._clicking() and self.ids:
            query = "&".join(f"id={i}" for i in self.ids[:25])
            self.client.get(f"{LIST}rows?{query}&url={LIST}", name="rows refresh")


@events.quitting.add_listener
def _write_report(environment: Any, **_kwargs: Any) -> None:
    if WS_REPORT:
        with open(WS_REPORT, "w") as fh:
            json.dump([s.report() for s in SOCKETS], fh)
