"""``GET <jobs url>/metrics``: Prometheus metrics, behind a bearer token or ``view_all``.

On the jobs_admin blueprint (not a Flask-Admin view), so that a scraper with a token and no
session reaches it; 404 unless ``JOBS_ADMIN_METRICS`` is on.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from .. import permissions as perms
from ..stats.metrics import exposition

ENDPOINT = "metrics"

#: The text exposition format every Prometheus server reads (what ``generate_latest`` writes
#: for plain metric names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _token_ok(token: str | None) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if token is None or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view() -> Any:
    """The metrics in Prometheus' text format, or 404 (off), 401 (no token, nobody logged in)
    or 403 (a user without ``view_all``)."""
    jobs = current_app.extensions["jobs_admin"]
    settings = jobs.settings()
    if not settings.metrics:
        abort(404)
    if not _token_ok(settings.metrics_token):
        user = jobs.get_current_user()
        if user is None or not getattr(user, "is_authenticated", True):
            return Response(
                "a bearer token or a logged-in user with view_all is needed\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="jobs_admin metrics"'},
                mimetype="text/plain",
            )
        if not jobs.can(perms.VIEW_ALL, user=user):
            abort(403)
    session = jobs.db.session
    try:
        body = exposition(jobs.store, session, settings.stale_after)
    finally:
        session.rollback()
    return Response(body, 200, {"Cache-Control": "no-store"}, content_type=CONTENT_TYPE)


def register(bp: Blueprint, path: str) -> None:
    """Add the metrics route at ``path`` to ``bp`` (before the blueprint is registered)."""
    bp.add_url_rule(path, ENDPOINT, metrics_view, methods=["GET"])
