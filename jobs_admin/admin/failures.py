"""The Failures page (``<jobs url>/failures/``): failed jobs grouped by type and cause, with
"Retry all" and "Delete all" run as a ``jobs_admin.failure_group`` job.

Needs ``view``; without ``view_all`` a user sees (and sweeps) the groups of their own jobs. The
sweep buttons need ``retry`` / ``delete``; the job asks the checker again about every job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup, escape

from .. import permissions as perms
from ..errors import JobsAdminError
from ..i18n import format_number, gettext
from ._side import SideView
from .forms import token_form

if TYPE_CHECKING:
    pass

_PERMISSION = {"retry": perms.RETRY, "delete": perms.DELETE}


class FailuresView(SideView):
    """Failed jobs grouped by cause.

    :param jobs: the extension whose failed jobs this view groups.
    """

    def _sees_all(self) -> bool:
        return self.can(perms.VIEW_ALL)

    @expose("/")
    def index(self) -> Any:
        user = None if self._sees_all() else self.jobs.get_current_user()
        groups = self.jobs.failure_groups(user=user)
        return self.render(
            "jobs_admin/failures.html",
            groups=groups,
            sees_all=user is None,
            csrf_token=token_form().csrf_token.current_token,
            list_url=url_for("jobs.index_view"),
            num=format_number,
        )

    @expose("/sweep", methods=("POST",))
    def sweep(self) -> Any:
        back = redirect(url_for(".index"))
        if not token_form(request.form).validate():
            flash(
                gettext(
                    "The form expired or lacks its CSRF token; nothing was changed. Try again."
                ),
                "error",
            )
            return back
        action = request.form.get("action", "")
        job_type = request.form.get("job_type", "")[:100]
        group = request.form.get("group", "")[:16]
        permission = _PERMISSION.get(action)
        if permission is None or not job_type:
            flash(gettext("Unknown action; nothing was changed."), "error")
            return back
        if not self.jobs.can(permission):
            flash(
                gettext(
                    "You do not have the %(permission)s permission.", permission=repr(permission)
                ),
                "error",
            )
            return back
        try:
            job = self.jobs.start_failure_group(
                action,
                job_type,
                group,
                user=self.jobs.get_current_user(),
                own=not self.jobs.can(perms.VIEW_ALL),
            )
        except JobsAdminError as exc:
            self.jobs.db.session.rollback()
            message = exc.translated()
            flash(message[:1].upper() + message[1:] + ".", "error")
            return back
        if action == "retry":
            started = gettext("Started job %(job)s: it retries the failed jobs of this group.")
        else:
            started = gettext("Started job %(job)s: it deletes the failed jobs of this group.")
        link = Markup('<a href="{}">#{} {}</a>').format(
            url_for("jobs.details_view", id=job.id), job.id, job.name
        )
        watch = Markup('<span class="jobs-admin-watch" data-state="{}" hidden></span>').format(
            url_for("jobs.job_state", job_id=job.id)
        )
        flash(
            Markup(escape(started)) % {"job": link} + watch,
            "success",
        )
        return back
