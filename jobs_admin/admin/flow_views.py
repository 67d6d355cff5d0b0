"""The Workers and Job types pages (``/admin/jobs/workers/``, ``/admin/jobs/types/``).

Both need ``view_all`` to be seen and ``manage`` for their actions; every action is a POST with
a CSRF token, asks the service layer, and comes back with a flash message (a refused or bad
request changes nothing and never fails the page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import flash, redirect, request
from flask_admin import expose

from .. import permissions as perms
from ..errors import JobsAdminError
from ..i18n import gettext as _
from ._base import request_answers
from ._side import SideView
from .forms import token_form

if TYPE_CHECKING:
    pass

#: Seconds between two refreshes of a flow page's table (jobs_admin_flow.js).
REFRESH_SECONDS = 2


class FlowView(SideView):
    """What the two pages share: access, the CSRF-checked action, the live table.

    :param jobs: the extension.
    """

    template = ""

    needs = perms.VIEW_ALL

    def can_manage(self) -> bool:
        """Whether the current user may act on this page (the templates ask)."""
        return request_answers(self.jobs).can(perms.MANAGE)

    def csrf_token(self) -> str:
        """A CSRF token for the page's forms."""
        return str(token_form().csrf_token.current_token)

    def _act(self, run: Any, done: str, unchanged: str) -> Any:
        """Check CSRF and ``manage``, call ``run()``, flash what happened, go back."""
        if not token_form(request.form).validate():
            flash(
                _("The form expired or lacks its CSRF token; nothing was changed. Try again."),
                "error",
            )
        elif not self.can_manage():
            flash(_("You do not have the 'manage' permission; nothing was changed."), "error")
        else:
            try:
                changed = run()
            except JobsAdminError as exc:
                message = exc.translated()
                error = message[:1].upper() + message[1:]
                flash(_("%(error)s; nothing was changed.", error=error), "error")
            else:
                flash(done if changed else unchanged, "success" if changed else "info")
        return redirect(self.get_url(".index"))

    def _page(self, **context: Any) -> Any:
        fragment = request.args.get("fragment") == "1"
        return self.render(self.template, fragment=fragment, refresh=REFRESH_SECONDS, **context)


class WorkersView(FlowView):
    """Every worker: state, heartbeat age, busy threads, the jobs it runs; totals per host;
    Quiet, Resume and Stop."""

    template = "jobs_admin/workers.html"

    @expose("/")
    def index(self) -> Any:
        workers = self.jobs.workers()
        hosts: dict[str, dict[str, int]] = {}
        for w in workers:
            host = hosts.setdefault(w.hostname, {"workers": 0, "threads": 0, "busy": 0})
            host["workers"] += 1
            host["threads"] += w.threads
            host["busy"] += w.running
        return self._page(workers=workers, hosts=hosts)

    @expose("/quiet", methods=("POST",))
    def quiet(self) -> Any:
        name = request.form.get("worker", "")[:200]
        return self._act(
            lambda: self.jobs.quiet(name),
            _(
                "Worker %(name)s asked to go quiet: it finishes its running jobs and claims no"
                " more.",
                name=name,
            ),
            _("Worker %(name)s is not running (already quiet or stopping).", name=name),
        )

    @expose("/resume", methods=("POST",))
    def resume(self) -> Any:
        name = request.form.get("worker", "")[:200]
        return self._act(
            lambda: self.jobs.unquiet(name),
            _("Worker %(name)s asked to claim jobs again.", name=name),
            _("Worker %(name)s is not quiet.", name=name),
        )

    @expose("/stop", methods=("POST",))
    def stop(self) -> Any:
        name = request.form.get("worker", "")[:200]
        return self._act(
            lambda: self.jobs.stop(name),
            _(
                "Worker %(name)s asked to stop: cancellable jobs go back to the queue, then it"
                " exits.",
                name=name,
            ),
            _("Worker %(name)s is stopping already.", name=name),
        )


class TypesView(FlowView):
    """Every registered job type: pending, running, failed in 24 h, its pause and limits;
    Pause, Resume and the limits form."""

    template = "jobs_admin/types.html"

    @expose("/")
    def index(self) -> Any:
        return self._page(types=self.jobs.job_types_overview())

    @expose("/pause", methods=("POST",))
    def pause(self) -> Any:
        name = request.form.get("type", "")[:100]
        return self._act(
            lambda: self.jobs.pause(name),
            _(
                "Job type %(name)s paused: no worker claims its jobs; running ones finish.",
                name=name,
            ),
            _("Job type %(name)s was paused already.", name=name),
        )

    @expose("/resume", methods=("POST",))
    def resume(self) -> Any:
        name = request.form.get("type", "")[:100]
        return self._act(
            lambda: self.jobs.resume(name),
            _("Job type %(name)s resumed.", name=name),
            _("Job type %(name)s was not paused.", name=name),
        )

    @expose("/limits", methods=("POST",))
    def limits(self) -> Any:
        name = request.form.get("type", "")[:100]
        concurrency = request.form.get("max_concurrency", "")[:20].strip() or None
        rate = request.form.get("rate_limit", "")[:20].strip() or None

        def run() -> bool:
            self.jobs.set_limits(name, max_concurrency=concurrency, rate_limit=rate)
            return True

        return self._act(
            run,
            _(
                "Limits of %(name)s set: max concurrency %(concurrency)s, rate limit %(rate)s.",
                name=name,
                concurrency=concurrency or _("none"),
                rate=rate or _("none"),
            ),
            "",
        )
