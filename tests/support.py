"""State and helpers shared by the test modules (import as ``tests.support``).

Kept out of ``conftest.py`` so that test modules import them by one unambiguous name.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import jinja2
import sqlalchemy as sa

from host_app.extensions import db as host_db
from host_app.extensions import jobs as host_jobs

#: Ids of the ``test.marker`` jobs that ran, one entry per run (a double run shows twice).
MARKERS: list[int] = []
_MARKERS_LOCK = threading.Lock()

#: ``test.uncancellable`` jobs wait on this before they finish.
GATE = threading.Event()

#: What ``test.steps`` saw in the database while it ran (job id -> phases read back).
PROBES: dict[int, list[str | None]] = {}


class Probe:
    """Reads the jobs tables through fresh connections of the current app's engine.

    Nothing is cached: what it returns is what other connections (workers) see now.
    """

    @property
    def _tables(self) -> tuple[sa.Table, sa.Table, sa.Table]:
        store = host_jobs.store
        return store.jobs, store.events, store.counts_table

    def _all(self, stmt: Any) -> list[dict[str, Any]]:
        with host_db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def job(self, job_id: int) -> dict[str, Any] | None:
        """The job's row as a dict, or ``None``."""
        j = self._tables[0]
        rows = self._all(sa.select(j).where(j.c.id == job_id))
        return rows[0] if rows else None

    def status(self, job_id: int) -> str | None:
        row = self.job(job_id)
        return None if row is None else row["status"]

    def jobs(self, **where: Any) -> list[dict[str, Any]]:
        """Rows of all jobs (matching ``column=value``), by id."""
        j = self._tables[0]
        stmt = sa.select(j).order_by(j.c.id)
        for key, value in where.items():
            stmt = stmt.where(j.c[key] == value)
        return self._all(stmt)

    def events(self, job_id: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Event rows (of one job, of one kind), in order."""
        e = self._tables[1]
        stmt = sa.select(e).order_by(e.c.id)
        if job_id is not None:
            stmt = stmt.where(e.c.job_id == job_id)
        if kind is not None:
            stmt = stmt.where(e.c.kind == kind)
        return self._all(stmt)

    def count(self, table: str = "jobs") -> int:
        """Rows in ``jobs``, ``events`` or ``counts``."""
        t = dict(zip(("jobs", "events", "counts"), self._tables, strict=True))[table]
        with host_db.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)

    def group_by_status(self, created_by: str | None = None) -> dict[str, int]:
        """``SELECT status, count(*) GROUP BY status`` in the shape of ``jobs.counts()``."""
        j = self._tables[0]
        stmt = sa.select(j.c.status, sa.func.count()).group_by(j.c.status)
        if created_by is not None:
            stmt = stmt.where(sa.func.coalesce(j.c.created_by, "") == created_by)
        result = dict.fromkeys(("pending", "running", "completed", "partial", "failed"), 0)
        result["cancelled"] = 0
        with host_db.engine.connect() as conn:
            for status, n in conn.execute(stmt):
                result[status] = n
        result["total"] = sum(result.values())
        return result

    def counter_rows(self) -> list[dict[str, Any]]:
        c = self._tables[2]
        return self._all(sa.select(c).order_by(c.c.status, c.c.created_by, c.c.slot))

    def snapshot(self, job_id: int) -> tuple[Any, ...]:
        """Everything a refused action must leave unchanged: the row, its events, the counters."""
        return (self.job(job_id), self.events(job_id), host_jobs.counts(), self.counter_rows())

    def update(self, job_id: int, **values: Any) -> None:
        """Change columns of a job directly (not its status: that would skew the counters)."""
        assert "status" not in values
        j = self._tables[0]
        with host_db.engine.begin() as conn:
            conn.execute(sa.update(j).where(j.c.id == job_id).values(**values))


class MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates shared by every test app (each app has a Jinja environment of its own;
    compiling Flask-Admin's templates again for every test would cost about 0.1 s each)."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


JINJA_CACHE = MemoryBytecodeCache()


#: The hidden CSRF field of a rendered form (the login and logout forms, the jobs pages).
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: Any) -> str:
    """A CSRF token of ``client``'s session, from the login page or, signed in, the sign-out one.

    :param client: a Flask test client; its cookies are kept.
    """
    page = client.get("/login")
    if page.status_code == 302:  # signed in: the login page sends the user on
        page = client.get("/logout")
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, f"no csrf_token on {page.request.path} ({page.status_code})"
    return match.group(1)


def login(client: Any, username: str, password: str | None = None) -> Any:
    """Post the login form as a browser does (with its CSRF token); return the response.

    :param client: a Flask test client.
    :param username: the user to sign in as.
    :param password: defaults to ``username`` (the demo users' password).
    """
    data = {
        "csrf_token": csrf_token(client),
        "username": username,
        "password": username if password is None else password,
    }
    return client.post("/login", data=data)


def logout(client: Any) -> Any:
    """Post the sign-out form with its CSRF token; return the response.

    :param client: a Flask test client.
    """
    page = client.get("/logout")
    if page.status_code == 302:  # not signed in: nothing to end
        return page
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, "no csrf_token on the sign-out page"
    return client.post("/logout", data={"csrf_token": match.group(1)})


def init_babel(app: Any) -> None:
    """Set up Flask-Babel on a test host of its own when it is installed (the dev extra brings
    it): Flask-Admin's templates then translate through it and need it on the app, as in any
    host that has Flask-Babel installed."""
    try:
        from flask_babel import Babel
    except ImportError:
        return
    Babel(app)
