"""Shared fixtures of the jobs_admin test suite.

Importing this module registers the ``test.*`` job types on the demo host's
:data:`host_app.extensions.jobs` (once, even if it is imported twice).

Fixtures:

- ``app``: the demo host on a SQLite file in ``tmp_path``, worker off, demo users created.
  Override config keys per test with ``@pytest.mark.app_config(KEY=value, ...)`` (they are
  read once at ``init_app``, so they must be known before the app is built).
- ``make_app``: build more apps like ``app`` (``make_app(**config)``).
- ``jobs``, ``db``: the extension and the ``SQLAlchemy`` instance of the demo host.
- ``auth``: :class:`AuthActions` for pytest-flask's ``client``.
- ``pg_url`` (session), ``pg_app``: the same on a throwaway PostgreSQL database.
- ``wait_for``: poll a predicate until it holds or a deadline passes.
- ``markers``: the ids ``test.marker`` jobs recorded (cleared for each test).
- ``gate``: a :class:`threading.Event` that ``test.uncancellable`` jobs wait on.
- ``probe``: :class:`Probe`, reads the jobs tables through fresh connections.
- ``make_job``: builds a job in a given status the way real jobs get there.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from wtforms import Form, IntegerField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional

import host_app
import host_app.models
from host_app.auth import ensure_demo_users
from host_app.extensions import db as host_db
from host_app.extensions import jobs as host_jobs
from jobs_admin import JobContext
from tests.support import _MARKERS_LOCK, GATE, JINJA_CACHE, MARKERS, PROBES, Probe
from tests.support import csrf_token as _csrf_token
from tests.support import login as _login
from tests.support import logout as _logout

PG_DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"

# Every test app creates the three demo users; a real (scrypt) hash costs ~0.1 s each. Hash each
# password once per session: the same method and the same checks, only the salt is reused.
if not hasattr(host_app.models.generate_password_hash, "cache_info"):
    host_app.models.generate_password_hash = functools.lru_cache(maxsize=None)(
        host_app.models.generate_password_hash
    )

# -- test job types --------------------------------------------------------------------------


def _register(name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``jobs.job_type`` that skips a name already registered (a conftest imported twice)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in host_jobs.registry:
            return func
        return host_jobs.job_type(name, **options)(func)

    return decorator


class ItemsForm(Form):
    """Params of ``test.items``."""

    count = IntegerField("Count", validators=[InputRequired(), NumberRange(min=0, max=100000)])
    fail_every = IntegerField("Fail every", validators=[Optional(), NumberRange(min=0)])
    label = StringField("Label", default="items")


def _retry_items(params: dict[str, Any], failed_keys: list[str]) -> dict[str, Any]:
    return {**params, "count": len(failed_keys), "fail_every": 0}


@_register("test.noop", title="Test: no-op")
def noop(ctx: JobContext) -> None:
    """Does nothing."""


@_register("test.echo", title="Test: echo")
def echo(ctx: JobContext, **params: Any) -> dict[str, Any]:
    """Returns its params as its result."""
    return params


@_register("test.items", title="Test: items", params=ItemsForm, retry_items=_retry_items)
def items(ctx: JobContext, count: int, fail_every: int | None = None, label: str = "items") -> Any:
    """Counts ``count`` items; every ``fail_every``-th one fails."""
    ctx.step("Counting")
    ctx.set_total(count)
    for i in range(count):
        ctx.check_cancelled()
        if fail_every and i % fail_every == 0:
            ctx.item_failed(f"{label}-{i}", "bad item")
        else:
            ctx.advance()
    ctx.log(f"counted {count} {label}")
    ctx.log("careful", level="warning")
    ctx.message(f"{ctx.done} done, {ctx.failed} failed")
    return {"count": count, "done": ctx.done, "failed": ctx.failed}


@_register("test.fail", title="Test: fail", max_attempts=3, retry_backoff=10)
def fail(ctx: JobContext, message: str = "boom") -> None:
    """Always raises."""
    raise RuntimeError(message)


@_register("test.fail_once", title="Test: fail once")
def fail_once(ctx: JobContext) -> None:
    """Raises; one attempt only."""
    raise ValueError("no luck")


@_register("test.flaky", title="Test: flaky", max_attempts=3, retry_backoff=5)
def flaky(ctx: JobContext) -> dict[str, int]:
    """Fails its first attempt, succeeds after."""
    if ctx.attempt == 1:
        raise ConnectionError("first attempt always fails")
    return {"attempt": ctx.attempt}


@_register("test.slow_cancellable", title="Test: slow, cancellable")
def slow_cancellable(ctx: JobContext, steps: int = 50, delay: float = 0.02) -> dict[str, int]:
    """Advances ``steps`` times with a short sleep, checking for a cancel; resumes at ctx.done."""
    ctx.set_total(steps)
    for _ in range(ctx.done, steps):
        ctx.check_cancelled()
        time.sleep(delay)
        ctx.advance()
    return {"done": ctx.done}


@_register("test.marker", title="Test: marker")
def marker(ctx: JobContext) -> None:
    """Records its id in :data:`MARKERS`."""
    with _MARKERS_LOCK:
        MARKERS.append(ctx.job_id)


@_register("test.timeout", title="Test: timeout", timeout=0.3)
def timeout_job(ctx: JobContext, seconds: float = 10) -> None:
    """Runs (checking for a stop) far longer than its timeout."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.01)


@_register("test.timeout_retry", title="Test: timeout, retried", timeout=0.3, max_attempts=2)
def timeout_retry(ctx: JobContext, seconds: float = 10) -> None:
    """Like ``test.timeout`` with one automatic retry."""
    timeout_job(ctx, seconds)


@_register("test.uncancellable", title="Test: uncancellable", cancellable=False)
def uncancellable(ctx: JobContext, wait: float = 10) -> str:
    """Waits for :data:`GATE` (never checks for a cancel)."""
    ctx.step("waiting for the gate")
    GATE.wait(wait)
    return "released"


@_register("test.result_file", title="Test: result file")
def result_file(ctx: JobContext, filename: str = "report.txt", fail: bool = False) -> Any:
    """Writes a result file under ``filename`` (then raises, with ``fail``)."""
    path = ctx.result_file(filename)
    path.write_text(f"job {ctx.job_id}\n")
    if fail:
        raise RuntimeError("failed after writing the file")
    return {"path": str(path)}


@_register("test.advance_many", title="Test: many advances")
def advance_many(ctx: JobContext, n: int = 100000) -> None:
    """Calls ``advance`` ``n`` times."""
    ctx.set_total(n)
    for _ in range(n):
        ctx.advance()


@_register("test.steps", title="Test: steps")
def steps(ctx: JobContext) -> None:
    """Two steps; reads its own phase back from the database after each one."""
    from flask import current_app

    jobs = current_app.extensions["jobs_admin"]
    t = jobs.store.jobs
    seen = []
    for name in ("Loading", "Writing"):
        ctx.step(name)
        with jobs.db.engine.connect() as conn:
            seen.append(conn.execute(sa.select(t.c.phase).where(t.c.id == ctx.job_id)).scalar())
    PROBES[ctx.job_id] = seen


@_register("test.session", title="Test: uses db.session")
def session_job(ctx: JobContext, username: str, email: str) -> None:
    """Changes a user through ``db.session`` (committed by the runner after the job)."""
    from host_app.models import User

    user = host_db.session.scalar(sa.select(User).filter_by(username=username))
    user.email = email


def _record_links(job: Any) -> list[tuple[str, str]]:
    return [
        ("Report", "https://example.com/report?id=1&x=<b>"),
        ("Local", "/admin/"),
        ("Bad", "javascript:alert(1)"),
    ]


@_register(
    "test.record",
    title="Test: recorded items",
    params=ItemsForm,
    record_items=True,
    links=_record_links,
)
def record(ctx: JobContext, count: int, fail_every: int | None = None, label: str = "item") -> Any:
    """Two steps over ``count`` items each half, every item recorded; every ``fail_every``-th
    one fails."""
    half = count // 2
    for name, numbers in (("First half", range(half)), ("Second half", range(half, count))):
        ctx.step(name)
        ctx.log(f"starting {name}")
        for i in numbers:
            if fail_every and i % fail_every == 0:
                ctx.item_failed(f"{label}-{i}", "bad item")
            else:
                ctx.item_done(f"{label}-{i}", "fine" if i % 2 else None)
    return {"count": count}


@_register("test.html_result", title="Test: HTML result", preview="site/index.html")
def html_result(ctx: JobContext, html: str = "<p>hi</p>", zipped: bool = False) -> None:
    """Writes ``html`` as its result: a page, or ``site/index.html`` in a ZIP with a CSS file."""
    import zipfile

    if zipped:
        with zipfile.ZipFile(ctx.result_file("site.zip"), "w") as archive:
            archive.writestr("site/index.html", html)
            archive.writestr("site/style.css", "p { color: red }")
    else:
        ctx.result_file("page.html").write_text(html, encoding="utf-8")


# -- helpers ---------------------------------------------------------------------------------


#: ``make_job`` gives the jobs it runs or claims at once this priority, so they go first.
FIRST = 2**30


@pytest.fixture
def make_job(jobs: Any) -> Callable[..., int]:
    """``make_job(status="pending", job_type=None, *, created_by=None, **params) -> id``.

    Builds a job in ``status`` the way real jobs get there (enqueue, work_off, cancel, claim),
    so the counters and events are right. Defaults: completed ``test.noop``, failed
    ``test.fail_once``, partial ``test.items`` (1 of 2 items failed), cancelled (a pending job
    cancelled), running (claimed by the fake worker ``"ghost:1:test"``, which never runs it).
    """

    def factory(
        status: str = "pending",
        job_type: str | None = None,
        *,
        created_by: str | None = None,
        **params: Any,
    ) -> int:
        defaults = {"failed": "test.fail_once", "partial": "test.items"}
        type_ = job_type or defaults.get(status, "test.noop")
        if type_ == "test.items":
            params.setdefault("count", 2)
            params.setdefault("fail_every", 2)
        first = status in ("running", "completed", "failed", "partial")
        job = host_jobs.enqueue(
            type_, created_by=created_by, priority=FIRST if first else 0, commit=True, **params
        )
        job_id = int(job.id)
        if status == "running":
            with host_db.engine.begin() as conn:
                assert host_jobs.store.claim(conn, "ghost:1:test", 1) == [job_id]
        elif first:
            assert host_jobs.work_off(limit=1) == 1
        elif status == "cancelled":
            host_jobs.cancel(job_id)
        else:
            assert status == "pending", status
        row = Probe().job(job_id)
        assert row is not None and row["status"] == status, (status, row)
        return job_id

    return factory


@pytest.fixture
def probe() -> Probe:
    """A :class:`Probe` of the current app's jobs tables (use inside an app context)."""
    return Probe()


def _wait_for(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that, or fail at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(predicate, timeout=10)``: poll until truthy, fail after ``timeout`` seconds."""
    return _wait_for


@pytest.fixture
def markers() -> Iterator[list[int]]:
    """The ids ``test.marker`` jobs recorded, cleared before and after the test."""
    with _MARKERS_LOCK:
        MARKERS.clear()
    yield MARKERS
    with _MARKERS_LOCK:
        MARKERS.clear()


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """The event ``test.uncancellable`` waits on; cleared before, set after the test."""
    GATE.clear()
    yield GATE
    GATE.set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "app_config(**config): extra config for the app/pg_app fixtures"
    )


def base_config(tmp_path: Path, uri: str) -> dict[str, Any]:
    """The config every test app starts from."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": uri,
        "JOBS_ADMIN_WORKER": "off",
        "JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
        "JOBS_ADMIN_SHUTDOWN_GRACE": 10,
        "DEMO_JOB_DELAY": 0,
        "JOBS_ADMIN_PROGRESS_INTERVAL": 0,
    }


def _marker_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers("app_config"))):
        config.update(mark.kwargs)
    return config


def _teardown_app(app: Flask) -> None:
    with app.app_context():
        host_jobs.stop_worker()
        host_jobs.stop_live(app)
        host_db.session.remove()
        own = host_jobs.connections(app).engine
        host_db.engine.dispose()
        own.dispose()


#: ``JOBS_ADMIN_TEST_BACKEND=postgresql`` runs every ``app``/``make_app`` test on a throwaway
#: PostgreSQL database of its own instead of a SQLite file (``make test`` runs the suite both ways).
BACKEND = os.environ.get("JOBS_ADMIN_TEST_BACKEND", "sqlite")


@pytest.fixture
def make_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Flask]]:
    """``make_app(**config)``: a demo host on a fresh database, schema and users created.

    The database is a SQLite file in ``tmp_path``, or with ``JOBS_ADMIN_TEST_BACKEND=postgresql``
    a new PostgreSQL database dropped after the test.
    """
    made: list[Flask] = []
    databases: list[str] = []
    server: PgServer | None = None
    if BACKEND == "postgresql":
        server = request.getfixturevalue("pg_server")

    def factory(**config: Any) -> Flask:
        suffix = str(len(made)) if made else ""
        if server is not None:
            uri = server.create()
            databases.append(uri)
        else:
            uri = f"sqlite:///{tmp_path / f'jobs{suffix}.db'}"
        app = host_app.create_app({**base_config(tmp_path, uri), **config})
        app.jinja_env.bytecode_cache = JINJA_CACHE
        with app.app_context():
            host_db.create_all()
            ensure_demo_users()
        made.append(app)
        return app

    yield factory
    for app in made:
        _teardown_app(app)
    # Connections a server or websocket thread left behind are finalised here, at a safe point,
    # not by a later garbage collection that lands inside CPython 3.11's compiler (where a
    # finaliser raising makes it fail with "AST constructor recursion depth mismatch").
    with warnings.catch_warnings():
        # A request thread of a browser test's server may still hold a connection when the
        # server stops; it is closed here, without a ResourceWarning failing the next test.
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    for uri in databases:
        assert server is not None
        server.drop(uri)


@pytest.fixture
def app(make_app: Callable[..., Flask], request: pytest.FixtureRequest) -> Flask:
    """The demo host on ``tmp_path/jobs.db`` (``JOBS_ADMIN_WORKER="off"``)."""
    return make_app(**_marker_config(request))


@pytest.fixture
def jobs() -> Any:
    """The demo host's :class:`~jobs_admin.JobsAdmin`."""
    return host_jobs


@pytest.fixture
def db() -> Any:
    """The demo host's ``SQLAlchemy`` instance."""
    return host_db


class AuthActions:
    """Log in and out through the demo host's forms, CSRF token included, as a browser does."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def login(self, username: str = "admin", password: str | None = None) -> Any:
        """Post ``/login`` (password defaults to the user name); return the response."""
        return _login(self._client, username, password)

    def logout(self) -> Any:
        """Post ``/logout`` (every session of the user ends); return the response."""
        return _logout(self._client)

    def csrf_token(self) -> str:
        """A CSRF token valid in the client's current session."""
        return _csrf_token(self._client)


@pytest.fixture
def auth(client: Any) -> AuthActions:
    """Log the test client in as a demo user: ``auth.login("operator")``."""
    return AuthActions(client)


# -- PostgreSQL ------------------------------------------------------------------------------


class PgServer:
    """The test PostgreSQL server: makes and drops throwaway databases."""

    def __init__(self, url: sa.URL) -> None:
        self.url = url
        # No pool: a test may restart the server meanwhile, and a pooled connection would be dead.
        self.engine = sa.create_engine(
            url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        self.made: list[str] = []

    def create(self) -> str:
        """Create a database; return its URL (with the password)."""
        name = f"jobs_admin_test_{uuid.uuid4().hex[:10]}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                break
            except sa.exc.OperationalError:
                # The server is restarting (a scale-out test restarts it): wait for it.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.made.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, database_url: str) -> None:
        name = sa.make_url(database_url).database
        assert name is not None
        _drop_database(self.engine, name)
        if name in self.made:
            self.made.remove(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The server of ``JOBS_ADMIN_TEST_DATABASE_URL`` (skipped, or failed, when unreachable)."""
    url = sa.make_url(os.environ.get("JOBS_ADMIN_TEST_DATABASE_URL", PG_DEFAULT_URL))
    server = PgServer(url)
    try:
        with server.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        server.engine.dispose()
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = url.render_as_string(hide_password=True)
        message = f"PostgreSQL not reachable at {where}: {reason}"
        if os.environ.get("JOBS_ADMIN_REQUIRE_ALL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    yield server
    for name in list(server.made):
        _drop_database(server.engine, name)
    server.engine.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a throwaway database on the test PostgreSQL server, dropped at the end."""
    url = pg_server.create()
    try:
        yield url
    finally:
        pg_server.drop(url)


def _drop_database(engine: sa.Engine, name: str) -> None:
    """Drop the throwaway database; retry while a restarted server comes back up."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except sa.exc.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def pg_app(pg_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The demo host on the throwaway PostgreSQL database, tables recreated for this test."""
    app = host_app.create_app({**base_config(tmp_path, pg_url), **_marker_config(request)})
    with app.app_context():
        host_db.drop_all()
        host_db.create_all()
        ensure_demo_users()
    yield app
    _teardown_app(app)
