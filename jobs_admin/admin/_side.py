"""The base of the pages beside the Jobs view in its menu (Schedules, Insights, Failures,
Workers, Job types): who may open them, and what a refused visitor gets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import abort, current_app
from flask_admin import BaseView

from .. import permissions as perms
from ._base import request_answers

if TYPE_CHECKING:
    from ..extension import JobsAdmin


class SideView(BaseView):
    """A jobs_admin page of its own in the admin's menu.

    :param jobs: the extension the page shows.
    """

    #: The permission that opens the page (and shows it in the menu).
    needs = perms.VIEW

    def __init__(self, jobs: JobsAdmin, **kwargs: Any) -> None:
        self.jobs = jobs
        super().__init__(**kwargs)

    def can(self, permission: str) -> bool:
        """Whether the current user has ``permission`` (answers kept per request and shared
        with the Jobs view: the admin's menu asks every view on every page)."""
        return request_answers(self.jobs).can(permission)

    def is_accessible(self) -> bool:
        return self.can(self.needs)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        # Signed out: the host's login page, as for its own views; signed in: 403.
        if self.jobs.get_current_user() is None:
            login_manager = getattr(current_app, "login_manager", None)
            if login_manager is not None and login_manager.login_view:
                return login_manager.unauthorized()
        return abort(403)
