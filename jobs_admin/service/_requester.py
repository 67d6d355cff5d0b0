"""The user who asked for a job, reloaded in the worker (no request there).

A job that acts on the requester's behalf (``jobs_admin.bulk``) stores their Flask-Login id
(:func:`requester_id`) and, when it runs, asks the permission checker about that user again
(:func:`load_user`), so a right taken away meanwhile is honoured.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def requester_id(user: Any) -> str | None:
    """The id Flask-Login keeps for ``user`` (``user.get_id()``), or ``None``.

    :param user: the current user (``None``: nobody).
    """
    get_id = getattr(user, "get_id", None)
    if user is None or not callable(get_id):
        return None
    value = get_id()
    return None if value is None else str(value)


def load_user(user_id: str | None) -> Any:
    """The user with this Flask-Login id, through the app's ``login_manager.user_callback``;
    ``None`` when there is no id, no Flask-Login on the app, or no such user (any more).

    Without Flask-Login the requester cannot be reloaded, and every job is skipped.

    :param user_id: what :func:`requester_id` returned.
    """
    if user_id is None:
        return None
    manager = getattr(current_app, "login_manager", None)
    callback = getattr(manager, "user_callback", None)
    if callback is None:
        return None
    user = callback(user_id)
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    return user
