"""The job view's forms that start jobs: the run form and "Clear old jobs"."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from flask_admin import expose
from markupsafe import Markup

from .. import permissions as perms
from ..builtins import PRUNE_TYPE
from ..errors import InvalidParams, JobsAdminError
from ..i18n import gettext, ngettext
from ..panel._render import run_origin, run_prefill
from . import format as fmt
from ._base import ViewBase, clip
from ._notify import started_flash
from ._run_options import job_options_form
from .forms import prune_form, run_form


class RunMixin(ViewBase):
    """``<view>/new`` (pick a job type, fill its parameters, start it) and ``<view>/prune``
    (start a ``jobs_admin.prune`` job)."""

    @expose("/prune", methods=("POST",))
    def prune(self) -> Any:
        form = prune_form(request.form, days=self.jobs.settings().retention_days)
        if not self.jobs.can(perms.PRUNE):
            flash(gettext("You do not have the 'prune' permission; nothing was deleted."), "error")
        elif not form.validate():
            errors = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
            flash(gettext("Nothing was deleted: %(errors)s", errors=errors), "error")
        else:
            # A job, not the work itself: a prune of many jobs takes minutes, and the page
            # returns at once with a link to follow its progress.
            days = form.days.data
            job = self.jobs.enqueue(
                PRUNE_TYPE,
                name=ngettext(
                    "Clear jobs finished over %(num)s day ago",
                    "Clear jobs finished over %(num)s days ago",
                    days,
                ),
                params={"days": days},
                commit=True,
            )
            url = self.get_url(".details_view", id=job.id)
            flash(
                Markup(
                    ngettext(
                        "Clearing finished jobs older than %(num)s day in job %(link)s.",
                        "Clearing finished jobs older than %(num)s days in job %(link)s.",
                        days,
                        link=Markup('<a href="{}">#{}</a>').format(url, job.id),
                    )
                ),
                "success",
            )
        return self._back()

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        if not self.jobs.can(perms.RUN):
            flash(gettext("You do not have the 'run' permission."), "error")
            return redirect(self.get_url(".index_view"))
        name = request.values.get("type", "")
        # Built-in types start from their own controls ("Clear old jobs" needs ``prune``).
        runnable = [t for t in self.jobs.registry if not t.builtin and self.jobs.can(perms.RUN, t)]
        job_type = next((t for t in runnable if t.name == name), None)
        if name and job_type is None:
            if name in self.jobs.registry:
                title = self.jobs.registry.get(name).title
                flash(gettext("You may not run %(type)r jobs.", type=title), "error")
            else:
                flash(gettext("Unknown job type %(type)r.", type=clip(name)), "error")
        # From a job panel: the record's reference, its params and the page to come back to.
        reference, back = run_origin()
        form = run_form(
            job_type.params if job_type else None,
            request.form if request.method == "POST" else None,
            data=run_prefill(request.args) if request.method == "GET" else None,
        )
        options = job_options_form(request.form if request.method == "POST" else None)
        if request.method == "POST" and job_type is not None:
            # Both validated, so every field's error shows at once.
            valid = form.validate()
            valid = options.validate() and valid
            if valid:
                params = {k: v for k, v in form.data.items() if k != "csrf_token"}
                job_options = options.enqueue_options()
                # A job panel's record reference, unless the user typed one of their own.
                if reference and not job_options.get("reference"):
                    job_options["reference"] = reference
                try:
                    job = self.jobs.enqueue(
                        job_type.name, params=params, commit=True, **job_options
                    )
                except JobsAdminError as exc:
                    self.jobs.db.session.rollback()
                    if isinstance(exc, InvalidParams):
                        # What the form's validators could not see (a NUL) shows at its field.
                        for field, messages in exc.errors.items():
                            if field in form._fields:
                                form[field].errors = [*form[field].errors, *messages]
                    flash(exc.translated(), "error")
                else:
                    if job.duplicate:
                        # A unique type whose key a queued job holds: that job, not a second.
                        url = self.get_url(".details_view", id=job.id)
                        flash(
                            Markup('Not started: already queued: <a href="{}">#{}</a>.').format(
                                url, job.id
                            ),
                            "warning",
                        )
                        return redirect(back or self.get_url(".index_view"))
                    when = options.run_at_utc()
                    text = (
                        gettext("Started job {job}.")
                        if when is None
                        else gettext("Scheduled job {job} to run at %(at)s.", at=fmt.utc(when))
                    )
                    flash(started_flash(self, job, text), "success")
                    return redirect(back or self.get_url(".index_view"))
            elif "csrf_token" in form.errors:
                flash(
                    gettext("The form expired or lacks its CSRF token; nothing was started."),
                    "error",
                )
        return self.render(
            "jobs_admin/new.html",
            job_types=runnable,
            job_type=job_type,
            form=form,
            options=options,
            run_reference=reference,
            run_return=back,
        )
