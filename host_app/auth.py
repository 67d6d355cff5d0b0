"""Login, roles and the jobs permission checker of the demo shop."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_admin.form import SecureForm
from flask_login import current_user, login_user, logout_user
from wtforms import PasswordField, StringField, validators

from jobs_admin.registry import unstorable_char

from .extensions import db, jobs, login_manager
from .models import User

bp = Blueprint("auth", __name__)

#: What each role may do in the jobs panel.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "view",
            "view_all",
            "run",
            "retry",
            "cancel",
            "delete",
            "export",
            "prune",
            "schedule",
            "manage",
        }
    ),
    "operator": frozenset({"view", "view_all", "run", "retry", "cancel", "export"}),
    "viewer": frozenset({"view"}),
}

#: The demo users: username, password and role are the same word.
DEMO_USERS = ("admin", "operator", "viewer")


#: A session's user id as :meth:`User.get_id` writes it; ids fit PostgreSQL's 32-bit integer.
_SESSION_ID = re.compile(r"([0-9]{1,9}):([0-9]{1,9})")

#: Said when a login or logout form comes without a valid CSRF token.
CSRF_REFUSED = "The form expired or was not sent from this site (CSRF token); {}. Please try again."


def _storable(_form: Any, field: Any) -> None:
    # A NUL reaches PostgreSQL's text as an error (a 500), not as "no such user".
    if field.data and unstorable_char(field.data) is not None:
        raise validators.ValidationError("That is not a user name.")


class LoginForm(SecureForm):
    """The sign-in form; its CSRF token is Flask-Admin's, the one the jobs pages use."""

    username = StringField(
        "User name", [validators.InputRequired(), validators.Length(max=80), _storable]
    )
    password = PasswordField("Password", [validators.InputRequired(), validators.Length(max=1024)])


class LogoutForm(SecureForm):
    """The sign-out form: only its CSRF token, so no other site can sign a user out."""


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session, or ``None`` when the session predates their last sign-out.

    :param session_id: ``"<id>:<session_version>"`` as :meth:`User.get_id` wrote it.
    """
    match = _SESSION_ID.fullmatch(session_id)
    if match is None:
        return None
    user = db.session.get(User, int(match[1]))
    if user is None or user.session_version != int(match[2]):
        return None
    return user


@jobs.permission_checker
def check_permission(user: Any, permission: str, job: Any = None) -> bool:
    """Grant a jobs permission by the user's role."""
    return permission in ROLE_PERMISSIONS.get(getattr(user, "role", ""), frozenset())


def ensure_demo_users() -> None:
    """Create the three demo users if they are missing."""
    for name in DEMO_USERS:
        if db.session.scalar(db.select(User).filter_by(username=name)) is None:
            user = User(username=name, email=f"{name}@shop.example", role=name)
            user.set_password(name)
            db.session.add(user)
    db.session.commit()


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login would be a phishing aid.
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("admin.index")


@bp.app_context_processor
def _logout_token() -> dict[str, Any]:
    # Pages with a "Sign out" button (the admin's navbar) put this token in its form.
    return {"logout_csrf_token": lambda: str(LogoutForm().csrf_token.current_token)}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign a user in: a POST with the form's CSRF token, user name and password."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", form=LoginForm())
    form = LoginForm(request.form)
    if not form.validate():
        if "csrf_token" in form.errors:
            flash(CSRF_REFUSED.format("you were not signed in"), "error")
        else:
            # Never echo what was sent: it may be huge, or someone else's password.
            flash("Enter a user name (at most 80 characters) and a password.", "error")
        form.username.data = ""
        return render_template("login.html", form=_fresh(form)), 400
    user = db.session.scalar(sa.select(User).filter_by(username=form.username.data))
    if user is None or not user.check_password(form.password.data or ""):
        flash("Unknown user or wrong password.", "error")
        return render_template("login.html", form=_fresh(form)), 401
    # A new session: no CSRF secret or other value planted before the login survives it.
    session.clear()
    login_user(user)
    return redirect(_safe_next(request.args.get("next")))


def _fresh(form: LoginForm) -> LoginForm:
    """A login form to show again: the user name kept (already at most 80 characters)."""
    again = LoginForm()
    again.username.data = form.username.data or ""
    return again


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Sign out (a POST with the CSRF token): every session of this user ends, everywhere.

    A GET (an old link or bookmark) only asks for confirmation.
    """
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    form = LogoutForm(request.form if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("logout.html", form=form)
    if not form.validate():
        flash(CSRF_REFUSED.format("you are still signed in"), "error")
        return render_template("logout.html", form=LogoutForm()), 400
    # Bumped in SQL, so two sign-outs at once both count; every older cookie is refused after.
    db.session.execute(
        sa.update(User)
        .where(User.id == current_user.id)
        .values(session_version=User.session_version + 1)
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out, in every browser.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
def home() -> Any:
    return redirect(url_for("admin.index"))
