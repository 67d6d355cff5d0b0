"""JobsAdmin construction, init_app wiring, configuration and job type registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from jobs_admin import JobContext, JobsAdmin, JobStatus
from jobs_admin.config import Settings
from tests.support import init_babel


def tiny_app(tmp_path: Path, **config: Any) -> Flask:
    """A bare Flask app on its own SQLite file (no host_app)."""
    app = Flask("tiny", instance_path=str(tmp_path / "instance"))
    app.config.update(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'tiny.db'}",
            "JOBS_ADMIN_WORKER": "off",
            "JOBS_ADMIN_RESULTS_DIR": str(tmp_path / "results"),
            **config,
        }
    )
    return app


def test_extension_constructor_with_app_initialises_it(tmp_path: Path) -> None:
    app = tiny_app(tmp_path)
    db = SQLAlchemy(app)
    jobs = JobsAdmin(app, db=db)

    assert app.extensions["jobs_admin"] is jobs
    assert jobs.Job.__table__.name == "jobs_admin_job"
    assert {"jobs_admin_job", "jobs_admin_job_event"} <= set(db.metadata.tables)
    assert jobs.settings(app).worker == "off"

    @jobs.job_type("t.hello")
    def hello(ctx: JobContext, who: str) -> str:
        return f"hello {who}"

    with app.app_context():
        db.create_all()
        job = jobs.enqueue("t.hello", who="world", commit=True)
        assert jobs.work_off() == 1
        assert jobs.get(job.id).result == "hello world"
        db.engine.dispose()


def test_extension_job_types_registered_after_init_app_run(tmp_path: Path) -> None:
    app = tiny_app(tmp_path)
    db = SQLAlchemy()
    jobs = JobsAdmin(db=db)
    db.init_app(app)
    jobs.init_app(app)

    @jobs.job_type("late.add", title="Add two numbers")
    def add(ctx: JobContext, a: int, b: int) -> int:
        return a + b

    assert "late.add" in jobs.registry
    with app.app_context():
        db.create_all()
        job = jobs.enqueue("late.add", a=2, b=3, commit=True)
        assert jobs.work_off() == 1
        done = jobs.get(job.id)
        assert done.status == JobStatus.COMPLETED == "completed"
        assert done.result == 5
        assert jobs.counts()["completed"] == 1
        db.engine.dispose()


def test_extension_init_app_twice_raises(tmp_path: Path) -> None:
    app = tiny_app(tmp_path)
    db = SQLAlchemy(app)
    jobs = JobsAdmin(db=db)
    jobs.init_app(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        jobs.init_app(app)
    # Another instance on the same app is refused as well, and the first one stays.
    other = JobsAdmin(db=db)
    with pytest.raises(RuntimeError, match="already initialised"):
        other.init_app(app)
    assert app.extensions["jobs_admin"] is jobs


def test_extension_init_app_without_sqlalchemy_raises(tmp_path: Path) -> None:
    app = tiny_app(tmp_path)
    jobs = JobsAdmin(db=SQLAlchemy())
    with pytest.raises(RuntimeError, match=r"db\.init_app"):
        jobs.init_app(app)
    assert "jobs_admin" not in app.extensions


def test_extension_one_instance_serves_two_apps_with_their_own_settings(tmp_path: Path) -> None:
    db = SQLAlchemy()
    jobs = JobsAdmin(db=db)
    apps = []
    for n, concurrency in ((1, 2), (2, 7)):
        app = tiny_app(tmp_path / str(n), JOBS_ADMIN_CONCURRENCY=concurrency)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / f'app{n}.db'}"
        db.init_app(app)
        jobs.init_app(app)
        apps.append(app)
    assert jobs.settings(apps[0]).concurrency == 2
    assert jobs.settings(apps[1]).concurrency == 7
    with apps[1].app_context():
        assert jobs.settings().concurrency == 7
    assert not hasattr(jobs, "app")


def test_extension_with_admin_bound_before(tmp_path: Path) -> None:
    from flask_admin import Admin
    from flask_admin.theme import Bootstrap4Theme

    app = tiny_app(tmp_path, SECRET_KEY="x")
    db = SQLAlchemy(app)
    init_babel(app)
    admin = Admin(app, name="Tiny", theme=Bootstrap4Theme())
    jobs = JobsAdmin(app, db=db, admin=admin)
    assert app.extensions["jobs_admin"] is jobs
    assert any(getattr(v, "endpoint", None) == "jobs" for v in admin._views)
    assert any(rule.rule.startswith("/admin/jobs/") for rule in app.url_map.iter_rules())


def test_extension_registers_cli_group(app: Flask) -> None:
    assert "jobs" in app.cli.commands


def test_conftest_auth_actions_log_in_and_out(app: Flask, client: Any, auth: Any) -> None:
    assert auth.login("viewer", "wrong").status_code == 401
    response = auth.login("viewer")
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert session.get("_user_id")
    auth.logout()
    with client.session_transaction() as session:
        assert not session.get("_user_id")


# -- configuration ---------------------------------------------------------------------------


def test_extension_answers_ask_the_checker_once_per_question() -> None:
    jobs = JobsAdmin(db=SQLAlchemy())
    calls: list[tuple[Any, str]] = []

    @jobs.permission_checker
    def check(user: Any, permission: str, job: Any = None) -> bool:
        calls.append((user, permission))
        return permission == "view"

    answers = jobs.answers("ann")
    assert [answers.can("view"), answers.can("view"), answers.can("export")] == [True, True, False]
    assert calls == [("ann", "view"), ("ann", "export")]
    # Nobody may do anything, and the checker is not asked about nobody.
    assert jobs.answers(None).can("view") is False
    assert len(calls) == 2


def test_config_defaults(tmp_path: Path) -> None:
    app = Flask("tiny", instance_path=str(tmp_path / "instance"))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'x.db'}"
    db = SQLAlchemy(app)
    jobs = JobsAdmin(app, db=db)
    s = jobs.settings(app)
    assert isinstance(s, Settings)
    assert (s.worker, s.concurrency, s.poll_interval) == ("embedded", 4, 1.0)
    assert (s.heartbeat_interval, s.stale_after, s.shutdown_grace) == (10, 60, 30)
    assert (s.retention_days, s.housekeeping_cron) == (30, "0 3 * * *")
    # No batch size: each backend's own (PRUNE_BATCH_POSTGRESQL / PRUNE_BATCH_SQLITE).
    assert (s.prune_batch, s.prune_pause) == (None, 0.03)
    assert (s.max_params_bytes, s.page_size, s.live_interval) == (65536, 25, 0.5)
    # A relative results dir lives in the instance folder.
    assert s.results_dir == tmp_path / "instance" / "jobs_results"


def test_config_is_read_once(tmp_path: Path) -> None:
    app = tiny_app(tmp_path, JOBS_ADMIN_CONCURRENCY=3)
    db = SQLAlchemy(app)
    jobs = JobsAdmin(app, db=db)
    app.config["JOBS_ADMIN_CONCURRENCY"] = 9
    assert jobs.settings(app).concurrency == 3


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("JOBS_ADMIN_WORKER", "threads", "JOBS_ADMIN_WORKER"),
        ("JOBS_ADMIN_WORKER", None, "JOBS_ADMIN_WORKER"),
        ("JOBS_ADMIN_CONCURRENCY", 0, "JOBS_ADMIN_CONCURRENCY"),
        ("JOBS_ADMIN_PRUNE_BATCH", 0, "JOBS_ADMIN_PRUNE_BATCH"),
        ("JOBS_ADMIN_PRUNE_PAUSE", -0.1, "JOBS_ADMIN_PRUNE_PAUSE"),
        ("JOBS_ADMIN_POLL_INTERVAL", -1, "JOBS_ADMIN_POLL_INTERVAL"),
        ("JOBS_ADMIN_STALE_AFTER", 5, "JOBS_ADMIN_STALE_AFTER"),
        ("JOBS_ADMIN_CONCURRENCY", "many", "invalid literal"),
        ("JOBS_ADMIN_HOUSEKEEPING_CRON", "every day at 3", "JOBS_ADMIN_HOUSEKEEPING_CRON"),
        ("JOBS_ADMIN_HOUSEKEEPING_CRON", "61 3 * * *", "JOBS_ADMIN_HOUSEKEEPING_CRON"),
        ("JOBS_ADMIN_HOUSEKEEPING_CRON", "0 3 * * 8", "JOBS_ADMIN_HOUSEKEEPING_CRON"),
    ],
)
def test_config_bad_value_raises_at_init_app(
    tmp_path: Path, key: str, value: Any, match: str
) -> None:
    app = tiny_app(tmp_path, **{key: value})
    db = SQLAlchemy(app)
    jobs = JobsAdmin(db=db)
    with pytest.raises(ValueError, match=match):
        jobs.init_app(app)
    assert "jobs_admin" not in app.extensions


def test_config_housekeeping_cron_none_is_accepted(tmp_path: Path) -> None:
    app = tiny_app(tmp_path, JOBS_ADMIN_HOUSEKEEPING_CRON=None)
    jobs = JobsAdmin(app, db=SQLAlchemy(app))
    assert jobs.settings(app).housekeeping_cron is None


# -- job types -------------------------------------------------------------------------------


def test_job_type_decorator_returns_the_function(tmp_path: Path) -> None:
    jobs = JobsAdmin(db=SQLAlchemy())

    def export(ctx: JobContext, n: int) -> int:
        return n

    decorated = jobs.job_type("t.export", max_attempts=2, timeout=5, cancellable=False)(export)
    assert decorated is export
    jt = jobs.registry.get("t.export")
    assert jt.func is export
    assert (jt.max_attempts, jt.timeout, jt.cancellable, jt.retry_backoff) == (2, 5, False, 30)
    assert jt.title == "T export"
    # Registering the same function again is harmless; another function under the name is not.
    jobs.job_type("t.export")(export)
    with pytest.raises(ValueError, match="already registered"):
        jobs.job_type("t.export")(lambda ctx: None)


def test_job_type_defaults_and_description_from_docstring() -> None:
    jobs = JobsAdmin(db=SQLAlchemy())

    @jobs.job_type("t.doc")
    def documented(ctx: JobContext) -> None:
        """Explains itself."""

    jt = jobs.registry.get("t.doc")
    assert (jt.max_attempts, jt.retry_backoff, jt.timeout, jt.cancellable) == (1, 30, None, True)
    assert jt.description == "Explains itself."


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("Bad Name", {}),
        ("", {}),
        ("t.ok", {"max_attempts": 0}),
        ("t.ok", {"retry_backoff": -1}),
        ("t.ok", {"timeout": 0}),
    ],
)
def test_job_type_bad_options_raise(name: str, options: dict[str, Any]) -> None:
    jobs = JobsAdmin(db=SQLAlchemy())
    builtins = [t.name for t in jobs.registry]
    assert builtins and all(t.builtin for t in jobs.registry)
    with pytest.raises(ValueError):
        jobs.job_type(name, **options)(lambda ctx: None)
    assert [t.name for t in jobs.registry] == builtins  # the built-ins only


@pytest.mark.parametrize("name", ["jobs_admin.x", "jobs_admin.prune", "jobs_admin."])
def test_job_type_builtin_prefix_is_reserved(name: str) -> None:
    jobs = JobsAdmin(db=SQLAlchemy())
    builtin = jobs.registry.get("jobs_admin.prune")
    builtins = [t.name for t in jobs.registry]
    with pytest.raises(ValueError, match="reserved for jobs_admin's built-in job types"):
        jobs.job_type(name)(lambda ctx: None)
    assert [t.name for t in jobs.registry] == builtins
    assert jobs.registry.get("jobs_admin.prune") is builtin
    assert builtin.builtin and builtin.title == "Clear old jobs"


def test_job_type_conftest_types_registered_once(jobs: Any) -> None:
    import importlib.util

    before = {jt.name: jt.func for jt in jobs.registry}
    # Import conftest a second time under another name: it must neither raise nor replace.
    path = Path(__file__).with_name("conftest.py")
    spec = importlib.util.spec_from_file_location("conftest_again", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    after = {jt.name: jt.func for jt in jobs.registry}
    assert after == before
    assert {"test.noop", "test.items", "test.fail", "test.flaky", "test.marker"} <= set(after)
    assert {"test.slow_cancellable", "test.timeout", "test.uncancellable"} <= set(after)


def test_models_status_is_stored_as_its_lowercase_value(app: Flask, jobs: Any, db: Any) -> None:
    job = jobs.enqueue("test.noop", commit=True)
    with db.engine.connect() as conn:
        sql = sa.text("SELECT status FROM jobs_admin_job WHERE id = :id")
        raw = conn.execute(sql, {"id": job.id})
        assert raw.scalar() == "pending"
    assert JobStatus("pending") is JobStatus.PENDING
    assert JobStatus.PENDING == "pending"
    assert job.job_status is JobStatus.PENDING
    assert job.created_at.tzinfo is not None
    assert job.is_active and not job.is_finished


def test_config_every_key_is_documented() -> None:
    """Each ``JOBS_ADMIN_*`` key is in ``JobsAdmin``'s docstring and the README's table."""
    import dataclasses
    from pathlib import Path

    from jobs_admin import JobsAdmin
    from jobs_admin.config import Settings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for field in dataclasses.fields(Settings):
        key = f"JOBS_ADMIN_{field.name.upper()}"
        assert f"``{key}``" in (JobsAdmin.__doc__ or ""), key
        assert f"| `{key}` |" in readme, key
