"""Login, roles and the jobs permission checker of the demo shop."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .extensions import db, jobs, login_manager
from .models import User

bp = Blueprint("auth", __name__)

#: What each role may do in the jobs panel.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"view", "view_all", "run", "retry", "cancel", "delete", "export", "prune"}),
    "operator": frozenset({"view", "view_all", "run", "retry", "cancel", "export"}),
    "viewer": frozenset({"view"}),
}

#: The demo users: username, password and role are the same word.
DEMO_USERS = ("admin", "operator", "viewer")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        user = db.session.scalar(db.select(User).filter_by(username=username))
        if user is not None and user.check_password(password):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("Unknown user or wrong password.", "error")
        return render_template("login.html", username=username), 401
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST", "GET"])
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/")
def home() -> Any:
    return redirect(url_for("admin.index"))
