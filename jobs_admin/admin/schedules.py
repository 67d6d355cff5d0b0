"""The Schedules page (``<jobs>/schedules/``): recurring jobs, their next and last runs, and
the admin's controls.

Who may do what (deny by default, through the host's checker):

- ``view``: the page, read-only (names, types, cron, next and last runs, audit trail);
- ``run`` (and the permission that starts the type, e.g. ``prune`` for the housekeeping):
  "Run now";
- ``schedule``: create, edit, enable, disable and delete.

Every POST carries a CSRF token; a refused or invalid request flashes why and changes nothing.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from flask import Response, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup, escape

from .. import cron, service
from .. import permissions as perms
from ..errors import InvalidParams, InvalidSchedule, JobsAdminError, ScheduleNotFound
from ..i18n import gettext
from ._schedule_forms import schedule_form, type_form
from ._side import SideView
from .forms import token_form

if TYPE_CHECKING:
    from ..extension import JobsAdmin


class ScheduleView(SideView):
    """Schedules in the host's admin.

    :param jobs: the extension whose schedules this view shows.
    :param jobs_view: the Jobs view, whose per-request permission answers this view shares.
    """

    def __init__(self, jobs: JobsAdmin, jobs_view: Any = None, **kwargs: Any) -> None:
        self.jobs_view = jobs_view
        super().__init__(jobs, **kwargs)

    # -- access ----------------------------------------------------------------------------

    def can_run(self, row: dict[str, Any]) -> bool:
        """Whether the current user may "run now" the schedule ``row``."""
        needed = perms.START_PERMISSION.get(row["type"], perms.RUN)
        return self.can(perms.RUN) and self.can(needed)

    def _rt(self) -> Any:
        rt = self.jobs.runtime()
        service.sync_schedules(rt)
        return rt

    def _who(self) -> str | None:
        return self.jobs.identity(self.jobs.get_current_user())

    def _refused(self, permission: str) -> Any:
        flash(
            gettext(
                "You do not have the %(permission)s permission; nothing was changed.",
                permission=repr(permission),
            ),
            "error",
        )
        return redirect(self.get_url(".index_view"))

    # -- pages -----------------------------------------------------------------------------

    @expose("/")
    def index_view(self) -> Any:
        rt = self._rt()
        rows = service.all_schedules(rt)
        return self.render(
            "jobs_admin/schedules.html",
            schedules=[self._shown(rt, r) for r in rows],
            csrf=token_form().csrf_token.current_token,
            can_edit=self.can(perms.SCHEDULE),
        )

    def _shown(self, rt: Any, row: dict[str, Any]) -> dict[str, Any]:
        try:
            title = rt.registry.get(row["type"]).title
        except LookupError:
            title = None
        return {
            **row,
            "reading": cron.describe(row["cron"]),
            "type_title": title,
            "can_run": self.can_run(row) and title is not None,
            "deletable": row["origin"] == "admin" and row["name"] not in rt.registry.schedules,
        }

    @expose("/state.json")
    def state(self) -> Response:
        """Next and last runs of every schedule, for the page's live updates."""
        rt = self._rt()
        out = []
        for row in service.all_schedules(rt):
            out.append(
                {
                    "id": row["id"],
                    "enabled": bool(row["enabled"]),
                    "next_run_at": _iso(row["next_run_at"]),
                    "last_job_id": row["last_job_id"],
                    "last_status": row["last_status"],
                    "last_scheduled_for": _iso(row["last_scheduled_for"]),
                }
            )
        response = jsonify({"schedules": out})
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/<int:schedule_id>/")
    def detail(self, schedule_id: int) -> Any:
        rt = self._rt()
        try:
            row = service.find_schedule(rt, schedule_id)
        except ScheduleNotFound:
            flash(gettext("Schedule %(id)s does not exist.", id=schedule_id), "error")
            return redirect(self.get_url(".index_view"))
        j = rt.Job
        runs = (
            rt.db.session.query(j)
            .filter(j.schedule_id == schedule_id)
            .order_by(j.id.desc())
            .limit(50)
            .all()
        )
        return self.render(
            "jobs_admin/schedule_detail.html",
            schedule=self._shown(rt, row),
            runs=runs,
            events=service.schedule_history(rt, schedule_id),
            csrf=token_form().csrf_token.current_token,
            can_edit=self.can(perms.SCHEDULE),
            can_see_all=self.can(perms.VIEW_ALL),
            list_url=(
                url_for(f"{self.jobs_view.endpoint}.index_view", flt0_schedule_equals=schedule_id)
                if self.jobs_view is not None
                else None
            ),
        )

    # -- changes ---------------------------------------------------------------------------

    def _post(self, schedule_id: int, permission: str | None) -> tuple[Any, dict[str, Any]] | Any:
        """Check CSRF, permission and the schedule of a POST; return (runtime, row) or the
        redirect that refuses it."""
        if not token_form(request.form).validate():
            flash(
                gettext(
                    "The form expired or lacks its CSRF token; nothing was changed. Try again."
                ),
                "error",
            )
            return redirect(self.get_url(".index_view"))
        if permission is not None and not self.can(permission):
            return self._refused(permission)
        rt = self._rt()
        try:
            return rt, service.find_schedule(rt, schedule_id)
        except ScheduleNotFound:
            flash(
                gettext("Schedule %(id)s does not exist; nothing was changed.", id=schedule_id),
                "error",
            )
            return redirect(self.get_url(".index_view"))

    @expose("/<int:schedule_id>/run", methods=("POST",))
    def run_now(self, schedule_id: int) -> Any:
        checked = self._post(schedule_id, None)
        if not isinstance(checked, tuple):
            return checked
        rt, row = checked
        if not self.can_run(row):
            return self._refused(perms.START_PERMISSION.get(row["type"], perms.RUN))
        try:
            job_id = service.run_now(rt, row["name"], self._who())
        except JobsAdminError as exc:
            flash(
                gettext(
                    "%(name)s was not run: %(error)s", name=row["name"], error=exc.translated()
                ),
                "error",
            )
        else:
            url = self.get_url("jobs.details_view", id=job_id)
            flash(
                Markup(
                    gettext(
                        'Started %(name)s now: job <a href="%(url)s">#%(id)s</a>.',
                        name=escape(row["name"]),
                        url=escape(url),
                        id=job_id,
                    )
                ),
                "success",
            )
        return redirect(self.get_url(".index_view"))

    @expose("/<int:schedule_id>/enable", methods=("POST",))
    def enable(self, schedule_id: int) -> Any:
        return self._switch(schedule_id, True)

    @expose("/<int:schedule_id>/disable", methods=("POST",))
    def disable(self, schedule_id: int) -> Any:
        return self._switch(schedule_id, False)

    def _switch(self, schedule_id: int, enabled: bool) -> Any:
        checked = self._post(schedule_id, perms.SCHEDULE)
        if not isinstance(checked, tuple):
            return checked
        rt, row = checked
        service.set_schedule_enabled(rt, row["name"], enabled, self._who())
        message = (
            gettext("%(name)s is enabled.", name=row["name"])
            if enabled
            else gettext("%(name)s is disabled.", name=row["name"])
        )
        flash(message, "success")
        return redirect(self.get_url(".index_view"))

    @expose("/<int:schedule_id>/delete", methods=("POST",))
    def delete(self, schedule_id: int) -> Any:
        checked = self._post(schedule_id, perms.SCHEDULE)
        if not isinstance(checked, tuple):
            return checked
        rt, row = checked
        try:
            service.delete_schedule(rt, row["name"], self._who())
        except JobsAdminError as exc:
            flash(gettext("Nothing was deleted: %(error)s", error=exc.translated()), "error")
        else:
            flash(
                gettext("Deleted the schedule %(name)s (its jobs stay).", name=row["name"]),
                "success",
            )
        return redirect(self.get_url(".index_view"))

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        return self._edit(None)

    @expose("/<int:schedule_id>/edit", methods=("GET", "POST"))
    def edit(self, schedule_id: int) -> Any:
        return self._edit(schedule_id)

    def _edit(self, schedule_id: int | None) -> Any:
        if not self.can(perms.SCHEDULE):
            return self._refused(perms.SCHEDULE)
        rt = self._rt()
        row = None
        if schedule_id is not None:
            try:
                row = service.find_schedule(rt, schedule_id)
            except ScheduleNotFound:
                flash(gettext("Schedule %(id)s does not exist.", id=schedule_id), "error")
                return redirect(self.get_url(".index_view"))
        types = [t for t in rt.registry if not t.builtin]
        type_name = row["type"] if row else request.values.get("type", "")
        job_type = next((t for t in rt.registry if t.name == type_name), None)
        if row is None and job_type is not None and job_type.builtin:
            job_type = None
        posted = request.form if request.method == "POST" else None
        form = schedule_form(posted, row, new=row is None)
        params = type_form(job_type, posted, row["params"] if row else None)
        if request.method == "POST" and job_type is not None:
            valid = form.validate()
            valid = (params is None or params.validate()) and valid
            if "csrf_token" in form.errors:
                flash(
                    gettext("The form expired or lacks its CSRF token; nothing was saved."),
                    "error",
                )
            elif valid:
                done = self._save(rt, row, job_type.name, form, params)
                if done is not None:
                    return done
        return self.render(
            "jobs_admin/schedule_edit.html",
            schedule=row,
            form=form,
            params=params,
            job_type=job_type,
            job_types=types,
        )

    def _save(self, rt: Any, row: Any, type_name: str, form: Any, params: Any) -> Any:
        values = {
            "cron": form.cron.data.strip(),
            "timezone": form.timezone.data.strip(),
            "skip_if_running": form.skip_if_running.data,
            "description": form.description.data or None,
            "params": {k: v for k, v in (params.data if params else {}).items()},
        }
        try:
            if row is None:
                saved = service.create_schedule(rt, form.name.data, type_name, values, self._who())
            else:
                saved = service.update_schedule(rt, row["name"], values, self._who())
        except (InvalidSchedule, InvalidParams) as exc:
            if isinstance(exc, InvalidParams) and params is not None:
                for field, messages in exc.errors.items():
                    if field in params._fields:
                        params[field].errors = [*params[field].errors, *messages]
            flash(gettext("Nothing was saved: %(error)s", error=exc.translated()), "error")
            return None
        flash(gettext("Saved the schedule %(name)s.", name=saved["name"]), "success")
        return redirect(self.get_url(".index_view"))


def _iso(value: Any) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
