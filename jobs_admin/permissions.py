"""Permission names and the checks the admin views and the websocket make.

Public methods of :class:`~jobs_admin.JobsAdmin` are the host's own code and check nothing; the
views call :func:`can` for every request. Without a registered checker nothing is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

VIEW = "view"
VIEW_ALL = "view_all"
RUN = "run"
RETRY = "retry"
CANCEL = "cancel"
DELETE = "delete"
EXPORT = "export"
PRUNE = "prune"

#: Every permission a checker is asked about, with what it grants.
PERMISSIONS: dict[str, str] = {
    VIEW: "open the jobs panel and see one's own jobs",
    VIEW_ALL: "see every user's jobs",
    RUN: "start a job from the run form",
    RETRY: "retry failed, partial or cancelled jobs",
    CANCEL: "cancel pending and running jobs",
    DELETE: "delete finished jobs",
    EXPORT: "download the job list as CSV",
    PRUNE: "clear finished jobs older than a cut-off",
}

Checker = Callable[..., bool]
Identity = Callable[[Any], str | None]


def default_identity(user: Any) -> str | None:
    """Name a user by ``username``, else ``email``, else ``get_id()``."""
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    for attr in ("username", "email"):
        value = getattr(user, attr, None)
        if value:
            return str(value)
    get_id = getattr(user, "get_id", None)
    if callable(get_id):
        value = get_id()
        return str(value) if value is not None else None
    return None


def current_user_or_none() -> Any:
    """The Flask-Login user of this request, or ``None`` without a login or a request."""
    try:
        from flask_login import current_user
    except ImportError:
        return None
    try:
        user = current_user._get_current_object()
    except (RuntimeError, AttributeError):
        # No request context, or no LoginManager on this app.
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def can(
    checker: Checker | None,
    identity: Identity,
    user: Any,
    permission: str,
    job: Any = None,
) -> bool:
    """Whether ``user`` has ``permission`` (on ``job``, when one is given).

    A job the user cannot see is refused for every permission: without ``view_all`` only jobs
    whose ``created_by`` is the user's identity are visible.

    :param checker: the host's ``check(user, permission, job=None) -> bool``, or ``None``.
    :param identity: how a user is named in ``created_by``.
    :param user: the current user (or ``None`` when nobody is logged in).
    :param permission: one of :data:`PERMISSIONS`.
    :param job: the job acted on, if any.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if checker is None or user is None:
        return False
    if job is not None and not sees_all(checker, user):
        if job.created_by is None or job.created_by != identity(user):
            return False
        if not checker(user, VIEW, job):
            return False
    return bool(checker(user, permission, job) if job is not None else checker(user, permission))


def sees_all(checker: Checker | None, user: Any) -> bool:
    """Whether ``user`` may see every user's jobs."""
    return bool(checker is not None and user is not None and checker(user, VIEW_ALL))
