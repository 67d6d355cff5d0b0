"""The job view's actions: retry, cancel and delete, on one job (its row or detail page) or
on the jobs ticked in the list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, request
from flask_admin import expose
from flask_admin.actions import action

from .. import permissions as perms
from ..errors import JobsAdminError
from ..i18n import gettext, lazy_gettext, ngettext
from ..models import JobStatus
from ._base import ViewBase
from ._notify import started_flash
from .forms import token_form

#: The permission each bulk action needs.
_ACTION_PERMISSIONS = {"retry": perms.RETRY, "cancel": perms.CANCEL, "delete": perms.DELETE}


class ActionsMixin(ViewBase):
    """The row actions (``POST <view>/<id>/retry`` ...) and the list's bulk actions."""

    def is_action_allowed(self, name: str) -> bool:
        return name in _ACTION_PERMISSIONS and self.can(_ACTION_PERMISSIONS[name])

    # -- row actions -----------------------------------------------------------------------

    def _checked(self) -> bool:
        """Whether the posted form carries a valid CSRF token (else flash why not)."""
        form = token_form(request.form)
        if form.validate():
            return True
        flash(
            gettext("The form expired or lacks its CSRF token; nothing was changed. Try again."),
            "error",
        )
        return False

    def _row_action(self, job_id: int, permission: str, run: Callable[[Any], str]) -> Any:
        """Run ``run(job)`` on job ``job_id`` if the user may, flash its message and go back.

        :param job_id: the job's id, from the URL.
        :param permission: what the user needs on the job.
        :param run: the action; it returns the success message or raises a
            :class:`~jobs_admin.errors.JobsAdminError`, whose message is flashed instead.
        """
        if not self._checked():
            return self._back()
        gone = None
        job = self.get_one(job_id)
        if job is None:
            flash(gettext("Job %(id)s does not exist or you may not see it.", id=job_id), "error")
        elif not self.jobs.can(permission, job):
            flash(
                gettext(
                    "You do not have the %(permission)r permission for job %(id)s.",
                    permission=permission,
                    id=job_id,
                ),
                "error",
            )
        else:
            try:
                flash(run(job), "success")
            except JobsAdminError as exc:
                self.jobs.db.session.rollback()
                # Not str.capitalize(): it would lower-case the rest (type names, ids).
                message = exc.translated()
                flash(message[:1].upper() + message[1:] + ".", "error")
            else:
                gone = job_id if permission == perms.DELETE else None
        return self._back(gone)

    @expose("/<int:job_id>/retry", methods=("POST",))
    def retry_job(self, job_id: int) -> Any:
        return self._row_action(job_id, perms.RETRY, self._retry_one)

    @expose("/<int:job_id>/retry-items", methods=("POST",))
    def retry_items_job(self, job_id: int) -> Any:
        def run(job: Any) -> str:
            new = self.jobs.retry_failed_items(job)
            return started_flash(
                self,
                new,
                gettext("Started job {job} over the failed items of job #%(id)s.", id=job_id),
            )

        return self._row_action(job_id, perms.RETRY, run)

    @expose("/<int:job_id>/cancel", methods=("POST",))
    def cancel_job(self, job_id: int) -> Any:
        return self._row_action(job_id, perms.CANCEL, self._cancel_one)

    @expose("/<int:job_id>/delete", methods=("POST",))
    def delete_job(self, job_id: int) -> Any:
        return self._row_action(job_id, perms.DELETE, self._delete_one)

    def _retry_one(self, job: Any) -> str:
        self.jobs.retry(job.id)
        return started_flash(self, job, gettext("Job {job} is queued again."))

    def _cancel_one(self, job: Any) -> str:
        job = self.jobs.cancel(job.id)
        if job.status == JobStatus.RUNNING:
            return gettext(
                "Job %(id)s was asked to stop; it ends after its current item.", id=job.id
            )
        return gettext("Job %(id)s is cancelled.", id=job.id)

    def _delete_one(self, job: Any) -> str:
        self.jobs.delete(job.id)
        return gettext("Job %(id)s is deleted.", id=job.id)

    # -- bulk actions ----------------------------------------------------------------------

    def _bulk(
        self,
        ids: list[str],
        permission: str,
        done_message: Callable[[int], str],
        run: Callable[[Any], Any],
    ) -> None:
        """Run ``run(job_id)`` on each of the ticked jobs the user may act on; flash what was
        done and what was skipped, and why.

        :param ids: the ticked ids, as posted (the first 1,000 are used).
        :param permission: what the user needs on each job.
        :param done_message: the success message for a count of jobs.
        :param run: the action on one job id.
        """
        done: list[int] = []
        skipped: list[str] = []
        for raw in ids[:1000]:
            job = self.get_one(raw)
            if job is None:
                skipped.append(gettext("#%(id)s not found", id=raw))
                continue
            # Read the id now: after a delete commits, the row is gone and ``job`` unloadable.
            job_id = job.id
            if not self.jobs.can(permission, job):
                skipped.append(gettext("#%(id)s not permitted", id=job_id))
                continue
            try:
                run(job_id)
                done.append(job_id)
            except JobsAdminError:
                self.jobs.db.session.rollback()
                # Deleted by another request since it was loaded: it has no status to name.
                now = self.jobs.get(job_id)
                skipped.append(
                    gettext("#%(id)s is %(status)s", id=job_id, status=now.status)
                    if now
                    else gettext("#%(id)s no longer exists", id=job_id)
                )
        if done:
            flash(done_message(len(done)), "success")
        if skipped:
            flash(
                gettext(
                    "Skipped %(num)s: %(which)s", num=len(skipped), which=", ".join(skipped[:20])
                )
                + (" …" if len(skipped) > 20 else ""),
                "warning",
            )
        if not done and not skipped:
            flash(gettext("No jobs were selected."), "warning")

    @action("retry", lazy_gettext("Retry"))
    def action_retry(self, ids: list[str]) -> None:
        def said(n: int) -> str:
            return ngettext("Queued again %(num)s job.", "Queued again %(num)s jobs.", n)

        self._bulk(ids, perms.RETRY, said, self.jobs.retry)

    @action(
        "cancel",
        lazy_gettext("Cancel"),
        lazy_gettext("Cancel the selected jobs? Running jobs stop after their current item."),
    )
    def action_cancel(self, ids: list[str]) -> None:
        def said(n: int) -> str:
            return ngettext(
                "Cancelled (or asked to stop) %(num)s job.",
                "Cancelled (or asked to stop) %(num)s jobs.",
                n,
            )

        self._bulk(ids, perms.CANCEL, said, self.jobs.cancel)

    @action(
        "delete",
        lazy_gettext("Delete"),
        lazy_gettext("Delete the selected jobs with their logs and result files?"),
    )
    def action_delete(self, ids: list[str]) -> None:
        def said(n: int) -> str:
            return ngettext("Deleted %(num)s job.", "Deleted %(num)s jobs.", n)

        self._bulk(ids, perms.DELETE, said, self.jobs.delete)

    @expose("/action/", methods=("POST",))
    def action_view(self) -> Any:
        name = request.form.get("action", "")
        if name in self._actions_data and not self.is_action_allowed(name):
            flash(
                gettext(
                    "You do not have the %(permission)r permission; nothing was changed.",
                    permission=name,
                ),
                "error",
            )
            return self._back()
        return self.handle_action()
