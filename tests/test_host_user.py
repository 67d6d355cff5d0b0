"""A host without Flask-Login: its ``@jobs.current_user`` hook says who the user is."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from werkzeug.test import EnvironBuilder

from jobs_admin import JobContext, JobsAdmin
from jobs_admin.live.websocket import reload_user
from tests.support import init_babel


@dataclass
class HeaderUser:
    """A user named by the request's ``X-User`` header (a proxy that authenticates)."""

    username: str
    is_authenticated: bool = True


@dataclass
class HeaderHost:
    app: Flask
    db: SQLAlchemy
    jobs: JobsAdmin
    #: (user name, permission) of every question the checker was asked
    asked: list[tuple[str, str]]


def header_host(tmp_path: Path, *, hook: bool = True) -> HeaderHost:
    """A bare app with an admin, no Flask-Login, and users taken from a header."""
    from flask_admin import Admin
    from flask_admin.theme import Bootstrap4Theme

    app = Flask("header_host", instance_path=str(tmp_path / "instance"))
    app.config.update(
        SECRET_KEY="test-only",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'header.db'}",
        JOBS_ADMIN_WORKER="off",
        JOBS_ADMIN_RESULTS_DIR=str(tmp_path / "results"),
    )
    db = SQLAlchemy(app)
    init_babel(app)
    admin = Admin(app, name="Header host", theme=Bootstrap4Theme())
    jobs = JobsAdmin(app, db=db, admin=admin)
    asked: list[tuple[str, str]] = []

    if hook:

        @jobs.current_user
        def from_header() -> HeaderUser | None:
            name = request.headers.get("X-User")
            if name == "locked":
                return HeaderUser(name, is_authenticated=False)
            return HeaderUser(name) if name else None

    @jobs.permission_checker
    def check(user: HeaderUser, permission: str, job: Any = None) -> bool:
        asked.append((user.username, permission))
        return user.username == "alice" or permission in ("view", "run")

    @jobs.job_type("t.hello", title="Hello")
    def hello(ctx: JobContext, who: str = "world") -> str:
        return f"hello {who}"

    with app.app_context():
        db.create_all()
    return HeaderHost(app, db, jobs, asked)


@pytest.fixture
def no_flask_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flask-Login is not installed: importing it fails."""
    monkeypatch.setitem(sys.modules, "flask_login", None)
    with pytest.raises(ImportError):
        import flask_login  # noqa: F401


def test_current_user_hook_serves_the_admin_without_flask_login(
    tmp_path: Path, no_flask_login: None
) -> None:
    host = header_host(tmp_path)
    with host.app.app_context():
        host.jobs.enqueue("t.hello", created_by="bob", commit=True)
        host.jobs.enqueue("t.hello", created_by="carol", commit=True)
        host.db.engine.dispose()
    client = host.app.test_client()

    assert client.get("/admin/jobs/").status_code == 403  # nobody: no header
    assert client.get("/admin/jobs/", headers={"X-User": "locked"}).status_code == 403
    assert not any(name == "locked" for name, _ in host.asked)

    # bob has view but not view_all: his own job only, and the checker was asked about him.
    page = client.get("/admin/jobs/", headers={"X-User": "bob"}).get_data(as_text=True)
    assert set(re.findall(r"details/\?id=(\d+)", page)) == {"1"}
    assert ("bob", "view") in host.asked and ("bob", "view_all") in host.asked
    page = client.get("/admin/jobs/", headers={"X-User": "alice"}).get_data(as_text=True)
    assert set(re.findall(r"details/\?id=(\d+)", page)) == {"1", "2"}

    # The run form records the hook's user as the creator.
    form = client.get("/admin/jobs/new?type=t.hello", headers={"X-User": "alice"})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.get_data(as_text=True))
    assert token is not None
    response = client.post(
        "/admin/jobs/new?type=t.hello",
        data={"csrf_token": token.group(1)},
        headers={"X-User": "alice"},
    )
    assert response.status_code == 302
    with host.app.app_context():
        new = host.jobs.get(3)
        assert (new.type, new.created_by, new.status) == ("t.hello", "alice", "pending")
        # Outside a request (a worker, a script) there is no user, and the hook is not called.
        assert host.jobs.get_current_user() is None
        host.db.engine.dispose()


def test_current_user_hook_reloads_the_live_socket_user(
    tmp_path: Path, no_flask_login: None
) -> None:
    host = header_host(tmp_path)
    with host.app.app_context():
        alice = reload_user(
            host.jobs.runtime(host.app), EnvironBuilder(headers={"X-User": "alice"}).get_environ()
        )
        nobody = reload_user(host.jobs.runtime(host.app), EnvironBuilder().get_environ())
    assert alice == HeaderUser("alice") and nobody is None


def test_current_user_without_hook_or_flask_login_is_nobody(
    tmp_path: Path, no_flask_login: None
) -> None:
    host = header_host(tmp_path, hook=False)
    client = host.app.test_client()
    assert client.get("/admin/jobs/", headers={"X-User": "alice"}).status_code == 403
    with host.app.test_request_context(headers={"X-User": "alice"}):
        assert host.jobs.get_current_user() is None
    assert host.asked == []
