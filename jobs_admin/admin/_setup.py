"""Register the jobs_admin blueprint and admin views on an app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask

if TYPE_CHECKING:
    from ..extension import JobsAdmin


def init_admin(jobs: JobsAdmin, app: Flask, admin: Any) -> None:
    """Register the package's templates and static files and, with an ``admin``, the views."""
    bp = Blueprint(
        "jobs_admin",
        __name__.rsplit(".", 2)[0],
        template_folder="templates",
        static_folder="static",
        static_url_path="/static/jobs_admin",
    )
    app.register_blueprint(bp)
