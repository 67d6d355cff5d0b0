"""The Flask-Admin view of jobs: list with KPI tiles, filters, details, actions, export."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    request,
    send_file,
)
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from flask_admin.helpers import get_redirect_target
from markupsafe import Markup
from werkzeug.utils import secure_filename

from .. import permissions as perms
from .._sql import duration_seconds
from ..builtins import PRUNE_TYPE
from ..errors import InvalidParams, JobsAdminError
from ..export import export_body
from ..models import JobStatus
from . import _details, _html
from ._live import live_config
from .filters import (
    PRESETS,
    CreatedBetweenFilter,
    CreatedWithinFilter,
    StatusFilter,
    TypeFilter,
    UserFilter,
)
from .forms import prune_form, run_form, token_form

if TYPE_CHECKING:
    from ..extension import JobsAdmin

log = logging.getLogger("jobs_admin.admin")

#: Above this many matches a filtered list says "10,000+" instead of counting every row.
COUNT_CAP = 10_000

#: A filter's query argument as Flask-Admin reads it: ``flt<position>_<name>``, where the
#: position may be any text (``flt_status_equals`` works too).
_FILTER_ARG = re.compile(r"^flt(?P<pos>[^_]*)_(?P<name>.+)$")

#: Query arguments that are not the list's own and must not reach ``url_for`` as keywords:
#: its own parameters (``endpoint``, ``_external`` would make every link absolute with the
#: request's Host header, ...) and ``get_url``'s.
_NOT_LIST_ARGS = frozenset({"endpoint", "self", "values"})

#: The deepest page a list URL may ask for; further is clamped (an OFFSET past every row is an
#: empty page anyway, and a huge one overflows the database's integer).
MAX_PAGE = 10_000_000

#: Job ids are 64-bit integers; a larger number in a URL is no job (not a database error).
_MAX_ID = 2**63 - 1

#: Characters that a browser drops or reads as a slash in a URL: a ``?url=`` holding them is
#: not trusted as a local path.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def _local(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/admin/...``), else ``None``.

    Flask-Admin's ``is_safe_url`` lets ``http:evil.example`` through (it resolves to this host,
    but browsers follow the redirect Werkzeug makes of it to ``evil.example``): an open
    redirect. A path that starts with one slash is the only kind the views ever send.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    return None if _URL_UNSAFE.search(target) else target


def _list_arg(name: str) -> bool:
    """Whether a query argument may pass to ``url_for`` as a keyword (see _NOT_LIST_ARGS)."""
    return name[:1] != "_" and name not in _NOT_LIST_ARGS


def _redirect_target() -> str | None:
    """The request's ``url`` argument, if it is a local path (see :func:`_local`)."""
    return _local(get_redirect_target())


#: Where a request keeps what its view worked out once (``request.environ``: one per request,
#: unlike ``flask.g``, which an app context held open around several requests would share).
_STATE = "jobs_admin.view_state"


class _RequestState:
    """What one request of a :class:`JobView` computes once and reuses."""

    __slots__ = ("answers", "counts", "visibility")

    def __init__(self, answers: perms.Answers) -> None:
        self.answers = answers
        #: (the SQL condition of the jobs the user may see or ``None``, the host's part of it)
        self.visibility: tuple[Any, Any] | None = None
        #: ``created_by`` (``None``: everyone's) -> counts per status
        self.counts: dict[str | None, dict[str, int]] = {}


class JobView(ModelView):
    """Jobs in the host's admin: KPI tiles, filters, search, details and gated actions.

    :param jobs: the extension whose jobs this view shows.
    """

    list_template = "jobs_admin/list.html"
    details_template = "jobs_admin/details.html"

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_export = False
    can_set_page_size = True
    page_size = 25
    page_size_options: tuple[int, ...] = (25, 50, 100, 250)
    named_filter_urls = True
    form_base_class = SecureForm
    column_display_actions = True

    column_list = (
        "id",
        "name",
        "status",
        "progress_done",
        "created_by",
        "created_at",
        "duration",
        "reference",
    )
    column_labels = {
        "id": "ID",
        "progress_done": "Progress",
        "created_by": "Created by",
        "created_at": "Created",
    }
    column_searchable_list = ("name", "reference", "created_by")
    # Python, not template macros: a macro call per cell was most of a list page's time.
    column_formatters = {
        "id": _html.id_cell,
        "name": _html.name_cell,
        "status": _html.status_cell,
        "progress_done": _html.progress_cell,
        "created_at": _html.created_cell,
        "duration": _html.duration_cell,
        "reference": _html.reference_cell,
    }

    def __init__(self, jobs: JobsAdmin, **kwargs: Any) -> None:
        self.jobs = jobs
        job = jobs.Job
        self.column_sortable_list = (
            ("id", job.id),
            "name",
            ("created_at", job.created_at),
            ("duration", duration_seconds(job.started_at, job.finished_at)),
        )
        self.column_default_sort = [("created_at", True), ("id", True)]
        self._status_filter = StatusFilter(job.status)
        self._user_filter = UserFilter(job.created_by)
        self.column_filters = (
            self._status_filter,
            TypeFilter(job.type, self._type_options),
            self._user_filter,
            CreatedWithinFilter(job.created_at),
            CreatedBetweenFilter(job.created_at),
        )
        super().__init__(job, jobs.db, **kwargs)

    def _type_options(self) -> list[tuple[str, str]]:
        return [(t.name, t.title) for t in self.jobs.registry]

    # -- access ----------------------------------------------------------------------------

    @property
    def user(self) -> Any:
        """The logged-in user, or ``None``."""
        return self.jobs.get_current_user()

    def _state(self) -> _RequestState:
        """This request's :class:`_RequestState` (made at its first use; outside a request, a
        new one each time)."""
        if not has_request_context():
            return _RequestState(perms.Answers(self.jobs._checker, self.jobs.identity, self.user))
        states = request.environ.setdefault(_STATE, {})
        state = states.get(self)
        if state is None:
            answers = perms.Answers(self.jobs._checker, self.jobs.identity, self.user)
            state = states[self] = _RequestState(answers)
        return state

    def can(self, permission: str, job: Any = None) -> bool:
        """Whether the current user has ``permission`` (on ``job``); used by the templates.

        Answered once per request and question (:class:`~jobs_admin.permissions.Answers`);
        the actions that change a job ask ``self.jobs.can`` afresh.
        """
        return self._state().answers.can(permission, job)

    def sees_all(self) -> bool:
        """Whether the current user sees every user's jobs."""
        return self.can(perms.VIEW_ALL)

    def is_accessible(self) -> bool:
        return self.can(perms.VIEW)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if not self.jobs.has_permission_checker:
            return self.render("jobs_admin/setup.html", permissions=perms.PERMISSIONS), 403
        if self.user is None:
            login_manager = getattr(current_app, "login_manager", None)
            if login_manager is not None and login_manager.login_view:
                return login_manager.unauthorized()
        return abort(403)

    def is_action_allowed(self, name: str) -> bool:
        needed = {"retry": perms.RETRY, "cancel": perms.CANCEL, "delete": perms.DELETE}
        return name in needed and self.can(needed[name])

    # -- queries ---------------------------------------------------------------------------

    def _visibility(self) -> tuple[Any, Any]:
        """(the condition of the jobs the user may see or ``None``, the host's part of it),
        asked once per request."""
        state = self._state()
        if state.visibility is None:
            user = self.user
            state.visibility = (
                self.jobs.visibility(user, sees_all=self.sees_all()),
                self.jobs.host_visibility(user),
            )
        return state.visibility

    def _visible(self, query: Any) -> Any:
        condition, _host = self._visibility()
        return query if condition is None else query.filter(condition)

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())

    def get_one(self, id: Any) -> Any:
        try:
            job_id = int(id)
        except (TypeError, ValueError):
            return None
        if not 0 < job_id <= _MAX_ID:
            return None
        job = self.get_query().filter(self.model.id == job_id).one_or_none()
        # The host's checker has the last word on each job it is asked about.
        return job if job is not None and self.can(perms.VIEW, job) else None

    def get_invalid_value_msg(self, value: str, filter: Any) -> str:
        # Flask-Admin's message repeats the whole value.
        return f"Invalid value {_clip(value)!r} for the filter {filter.name!r}; it is ignored."

    def search_placeholder(self) -> str:
        """What the search box matches (Flask-Admin would list only the searchable columns)."""
        return "ID, name, reference, type or user"

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes).
    def _apply_search(
        self, query: Any, count_query: Any, joins: Any, count_joins: Any, search: str
    ) -> Any:
        # NUL ends a string for SQLite's FTS5 and is refused in PostgreSQL text.
        for term in search.replace("\x00", "").split()[:8]:
            clause = self.jobs.store.search_clause(self.jobs.db.session, term[:200])
            query = query.filter(clause)
            if count_query is not None:
                count_query = count_query.filter(clause)
        return query, count_query, joins, count_joins

    def _filtered(self, search: str | None, filters: Any) -> Any:
        query = self.get_query()
        if search:
            query, *_ = self._apply_search(query, None, {}, {}, search)
        if filters and self._filters:
            # Flask-Admin 2.2.1's private method (checked by tests/test_flask_admin_private.py).
            query, *_ = self._apply_filters(query, None, {}, {}, filters)
        return query

    def get_list(
        self,
        page: int | None,
        sort_column: Any,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        query = self._filtered(search, filters)
        count = self._count(query, search, filters)

        def ordered(q: Any) -> Any:
            q, _ = self._apply_sorting(q, {}, sort_column, sort_desc)
            return q.order_by(self.model.id.desc()) if sort_column is not None else q

        query = ordered(query)
        if page and execute:
            # A deep page: skip over ids first (the database walks its index without touching
            # the table), then load only the rows shown. OFFSET on full rows reads and throws
            # away every row it skips.
            size = page_size or self.page_size
            ids = query.with_entities(self.model.id).limit(_literal(size))
            ids = ids.offset(_literal(page * size)).subquery()
            query = ordered(self.get_query().filter(self.model.id.in_(sa.select(ids.c.id))))
        elif execute:
            # Literal: with a bound LIMIT SQLite's planner walks the created_at index over the
            # whole table instead of using the search's OR of indexes (425 ms vs 2 ms at 1M).
            query = query.limit(_literal(page_size or self.page_size))
        if not execute:
            return count, query
        # The host's checker has the last word on each row (its buttons ask it anyway); the
        # count and pager follow the SQL condition (``@jobs.visible_jobs``) alone.
        return count, [job for job in query.all() if self.can(perms.VIEW, job)]

    def _count(self, query: Any, search: str | None, filters: Any) -> int | None:
        """Count the list's matches: from the counters when they can say, else capped.

        Above :data:`COUNT_CAP` it returns ``None``: the page then says "more than COUNT_CAP"
        and Flask-Admin shows a simple previous/next pager, so every row stays reachable (a
        pager built on the capped number would end at the cap).
        """
        self._template_args["count_capped"] = False
        self._template_args["count_cap"] = COUNT_CAP
        status = created_by = None
        # The counters know nothing of a host's visibility condition.
        counter_friendly = not search and self._visibility()[1] is None
        for idx, _name, value in filters or ():
            flt = self._filters[idx]
            if flt is self._status_filter and status is None:
                status = value
            elif flt is self._user_filter and created_by is None:
                created_by = value
            else:
                counter_friendly = False
        if counter_friendly:
            if not self.sees_all():
                own = self.jobs.identity(self.user) or ""
                if created_by is not None and created_by != own:
                    return 0
                created_by = own
            counts = self._counts(created_by)
            return counts[status] if status else counts["total"]
        limited = query.with_entities(self.model.id).order_by(None).limit(COUNT_CAP + 1)
        n = self.jobs.db.session.execute(sa.select(sa.func.count()).select_from(limited.subquery()))
        count = int(n.scalar() or 0)
        if count > COUNT_CAP:
            self._template_args["count_capped"] = True
            return None
        return count

    # -- template helpers ------------------------------------------------------------------

    def _counts(self, created_by: str | None) -> dict[str, int]:
        """Counts per status (of ``created_by``'s jobs), read once per request: the list's count
        and the KPI tiles usually want the same ones."""
        memo = self._state().counts
        if created_by not in memo:
            memo[created_by] = self.jobs.store.counts(self.jobs.db.session, created_by)
        return memo[created_by]

    def kpis(self) -> dict[str, int]:
        """Counts per status of every job the user may see (whatever the table's filter)."""
        condition, host = self._visibility()
        if host is not None:
            # A host's condition: counted over the jobs it selects (index it).
            memo, key = self._state().counts, "\0visible"
            if key not in memo:
                memo[key] = self.jobs.store.counts_where(self.jobs.db.session, condition)
            return memo[key]
        if self.sees_all():
            return self._counts(None)
        return self._counts(self.jobs.identity(self.user) or "")

    def active_filter(self, arg: str) -> str | None:
        """The valid value of the named filter ``arg`` (``status_equals``) in this request.

        An invalid value is ignored by the list (with a flash), so it is not "active" either.
        """
        _idx, flt = (self._filter_args or {}).get(arg, (None, None))
        for key, value in request.args.items():
            m = _FILTER_ARG.match(key)
            if m and m.group("name") == arg and (flt is None or flt.validate(value)):
                return value
        return None

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes).
    def _get_list_extra_args(self) -> Any:
        args = super()._get_list_extra_args()
        # Flask-Admin passes the other query arguments to ``url_for`` as keywords.
        args.extra_args = {k: v for k, v in args.extra_args.items() if _list_arg(k)}
        args.page = min(max(args.page or 0, 0), MAX_PAGE)
        return args

    def export_url(self) -> str:
        """The CSV export of what this list shows (its filters, search and sorting)."""
        args = {
            k: v
            for k, v in request.args.to_dict(flat=False).items()
            if k not in ("page", "page_size") and _list_arg(k)
        }
        return str(self.get_url(".export_csv", **args))

    def filter_url(self, arg: str, value: str | None) -> str:
        """This list's URL with the named filter ``arg`` set to ``value`` (or removed)."""
        args = [
            (k, v)
            for k, v in request.args.items(multi=True)
            if k != "page" and not ((m := _FILTER_ARG.match(k)) and m.group("name") == arg)
        ]
        if value is not None:
            used = {int(m.group(1)) for k, _ in args if (m := re.match(r"flt(\d{1,9})_", k))}
            n = max(used, default=-1) + 1
            args.append((f"flt{n}_{arg}", value))
        query = urlencode(args)
        return self.get_url(".index_view") + (f"?{query}" if query else "")

    def presets(self) -> dict[str, str]:
        """The date-range presets: value -> label."""
        return {k: v[0] for k, v in PRESETS.items()}

    def csrf_token(self) -> str:
        """A CSRF token for the row-action forms of this page."""
        form = token_form()
        return str(form.csrf_token.current_token)

    def stale(self, job: Any, stale_after: float | None = None) -> bool:
        """Whether a running job's heartbeat is older than ``JOBS_ADMIN_STALE_AFTER`` (or
        ``stale_after`` seconds: the list reads the setting once per page)."""
        if stale_after is None:
            stale_after = self.jobs.settings().stale_after
        return _details.is_stale(job, stale_after)

    def job_buttons(self, job: Any, csrf: str, return_url: str, compact: bool = True) -> Markup:
        """The retry / cancel / delete forms the user may use on ``job`` (detail page)."""
        return _html.job_buttons(self, job, csrf, return_url, compact)

    def return_url(self) -> str:
        """Where an action on this page should come back to."""
        return _redirect_target() or request.full_path.rstrip("?")

    # -- list ------------------------------------------------------------------------------

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.list_template and "return_url" in kwargs:
            # What the rows share (their links and forms, made once for the page): the page's
            # own URL is known only here, from Flask-Admin's ``index_view``.
            kwargs["jobs_admin_rows"] = _html.ListRows(
                self, kwargs["return_url"], self._template_args["csrf"], self._state().answers
            )
        return super().render(template, **kwargs)

    @expose("/")
    def index_view(self) -> Any:
        form = prune_form(days=self.jobs.settings().retention_days)
        self._template_args["prune_form"] = form
        # The row forms' token: the prune form's (the same kind of form), not a form more.
        self._template_args["csrf"] = str(form.csrf_token.current_token)
        # Before the list's queries: the page's websocket picks up from this moment.
        self._template_args["live"] = live_config(
            self.jobs, "list", self.get_url(".details_view"), self.get_url("jobs_admin.ws")
        )
        return super().index_view()

    # -- details ---------------------------------------------------------------------------

    @expose("/details/")
    def details_view(self) -> Any:
        return_url = _redirect_target() or self.get_url(".index_view")
        live = live_config(
            self.jobs, "details", self.get_url(".details_view"), self.get_url("jobs_admin.ws")
        )
        job = self.get_one(request.args.get("id"))
        if job is None:
            flash("That job does not exist or you may not see it.", "error")
            return redirect(return_url)
        self._template_args["live"] = {**live, "job": job.id}
        return self.render(
            self.details_template,
            job=job,
            info=_details.collect(
                self.jobs,
                job,
                visible=self._visibility()[0],
                may_see=lambda row: self.can(perms.VIEW, row),
            ),
            return_url=return_url,
        )

    # -- row actions -----------------------------------------------------------------------

    def _back(self, gone: int | None = None) -> Any:
        target = _redirect_target()
        if gone is not None and target and target.startswith(self.get_url(".details_view")):
            # The detail page of a deleted job is gone: go back to the list it was opened from
            # (its own ``url`` argument), so the list's filters and page survive the delete.
            target = _local(parse_qs(urlsplit(target).query).get("url", [""])[0])
        return redirect(target or self.get_url(".index_view"))

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes).
    def _run_view(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        response = super()._run_view(fn, *args, **kwargs)
        # Flask-Admin's own handlers (bulk actions; create, edit and delete, which answer with
        # a redirect even when disabled) follow ``?url=`` checked only by its is_safe_url.
        if isinstance(response, Response) and 300 <= response.status_code < 400:
            location = response.headers.get("Location", "")
            if _local(location) is None:
                response.headers["Location"] = self.get_url(".index_view")
        return response

    def _checked(self) -> bool:
        form = token_form(request.form)
        if form.validate():
            return True
        flash("The form expired or lacks its CSRF token; nothing was changed. Try again.", "error")
        return False

    def _row_action(self, job_id: int, permission: str, run: Callable[[Any], str]) -> Any:
        if not self._checked():
            return self._back()
        gone = None
        job = self.get_one(job_id)
        if job is None:
            flash(f"Job {job_id} does not exist or you may not see it.", "error")
        elif not self.jobs.can(permission, job):
            flash(f"You do not have the {permission!r} permission for job {job_id}.", "error")
        else:
            try:
                flash(run(job), "success")
            except JobsAdminError as exc:
                self.jobs.db.session.rollback()
                # Not str.capitalize(): it would lower-case the rest (type names, ids).
                message = str(exc)
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
            url = self.get_url(".details_view", id=new.id)
            return Markup(
                'Started job <a href="{}">#{}</a> over the failed items of job #{}.'
            ).format(url, new.id, job_id)

        return self._row_action(job_id, perms.RETRY, run)

    @expose("/<int:job_id>/cancel", methods=("POST",))
    def cancel_job(self, job_id: int) -> Any:
        return self._row_action(job_id, perms.CANCEL, self._cancel_one)

    @expose("/<int:job_id>/delete", methods=("POST",))
    def delete_job(self, job_id: int) -> Any:
        return self._row_action(job_id, perms.DELETE, self._delete_one)

    def _retry_one(self, job: Any) -> str:
        self.jobs.retry(job.id)
        return f"Job {job.id} is queued again."

    def _cancel_one(self, job: Any) -> str:
        job = self.jobs.cancel(job.id)
        if job.status == JobStatus.RUNNING:
            return f"Job {job.id} was asked to stop; it ends after its current item."
        return f"Job {job.id} is cancelled."

    def _delete_one(self, job: Any) -> str:
        self.jobs.delete(job.id)
        return f"Job {job.id} is deleted."

    # -- bulk actions ----------------------------------------------------------------------

    def _bulk(self, ids: list[str], permission: str, verb: str, run: Callable[[Any], Any]) -> None:
        done: list[int] = []
        skipped: list[str] = []
        for raw in ids[:1000]:
            job = self.get_one(raw)
            if job is None:
                skipped.append(f"#{raw} not found")
                continue
            # Read the id now: after a delete commits, the row is gone and ``job`` unloadable.
            job_id = job.id
            if not self.jobs.can(permission, job):
                skipped.append(f"#{job_id} not permitted")
                continue
            try:
                run(job_id)
                done.append(job_id)
            except JobsAdminError:
                self.jobs.db.session.rollback()
                # Deleted by another request since it was loaded: it has no status to name.
                now = self.jobs.get(job_id)
                skipped.append(
                    f"#{job_id} is {now.status}" if now else f"#{job_id} no longer exists"
                )
        if done:
            flash(f"{verb} {len(done)} job(s).", "success")
        if skipped:
            flash(
                f"Skipped {len(skipped)}: {', '.join(skipped[:20])}"
                + (" …" if len(skipped) > 20 else ""),
                "warning",
            )
        if not done and not skipped:
            flash("No jobs were selected.", "warning")

    @action("retry", "Retry")
    def action_retry(self, ids: list[str]) -> None:
        self._bulk(ids, perms.RETRY, "Queued again", self.jobs.retry)

    @action(
        "cancel", "Cancel", "Cancel the selected jobs? Running jobs stop after their current item."
    )
    def action_cancel(self, ids: list[str]) -> None:
        self._bulk(ids, perms.CANCEL, "Cancelled (or asked to stop)", self.jobs.cancel)

    @action("delete", "Delete", "Delete the selected jobs with their logs and result files?")
    def action_delete(self, ids: list[str]) -> None:
        self._bulk(ids, perms.DELETE, "Deleted", self.jobs.delete)

    @expose("/action/", methods=("POST",))
    def action_view(self) -> Any:
        name = request.form.get("action", "")
        if name in self._actions_data and not self.is_action_allowed(name):
            flash(f"You do not have the {name!r} permission; nothing was changed.", "error")
            return self._back()
        return self.handle_action()

    # -- download, export, prune, run ------------------------------------------------------

    @expose("/<int:job_id>/download")
    def download(self, job_id: int) -> Any:
        job = self.get_one(job_id)
        if job is None or not job.result_file:
            flash("That job has no result file you may download.", "error")
            return self._back()
        root = self.jobs.settings().results_dir.resolve()
        try:
            path = (root / job.result_file).resolve()
            found = path.is_relative_to(root) and path.is_file()
        except (OSError, ValueError):  # a stored name no file can have (a NUL in it)
            found = False
        if not found:
            flash(f"The result file of job {job_id} is missing.", "error")
            return self._back()
        # Names stored before ctx.result_file refused control characters: a CR/LF must not
        # reach the Content-Disposition header (a 500).
        name = secure_filename(path.name) or "result"
        return send_file(path, as_attachment=True, download_name=name)

    @expose("/export.csv")
    def export_csv(self) -> Any:
        if not self.jobs.can(perms.EXPORT):
            flash("You do not have the 'export' permission.", "error")
            return redirect(self.get_url(".index_view"))
        view_args = self._get_list_extra_args()
        sort = self._get_column_by_idx(view_args.sort)
        query = self._filtered(view_args.search, view_args.filters)
        query, _ = self._apply_sorting(query, {}, sort[0] if sort else None, view_args.sort_desc)
        j = self.model
        columns = query.with_entities(
            j.id,
            j.name,
            j.type,
            j.status,
            j.created_at,
            j.started_at,
            j.finished_at,
            j.created_by,
            j.reference,
            j.error,
        )
        session = self.jobs.db.session
        try:
            # The first match now, the way the list page looks for its rows: a filter or
            # search the database refuses becomes a message instead of a 200 whose body ends
            # after the header.
            session.execute(columns.order_by(None).limit(1).statement).all()
        except sa.exc.SQLAlchemyError as exc:
            session.rollback()
            log.exception("jobs_admin export failed")
            flash(f"The export failed: {type(exc).__name__}. Nothing was exported.", "error")
            return redirect(self.get_url(".index_view"))
        return Response(
            export_body(session.get_bind(mapper=self.model), columns.statement),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="jobs-export.csv"'},
        )

    @expose("/prune", methods=("POST",))
    def prune(self) -> Any:
        form = prune_form(request.form, days=self.jobs.settings().retention_days)
        if not self.jobs.can(perms.PRUNE):
            flash("You do not have the 'prune' permission; nothing was deleted.", "error")
        elif not form.validate():
            errors = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
            flash(f"Nothing was deleted: {errors}", "error")
        else:
            # A job, not the work itself: a prune of many jobs takes minutes, and the page
            # returns at once with a link to follow its progress.
            days = form.days.data
            job = self.jobs.enqueue(
                PRUNE_TYPE,
                name=f"Clear jobs finished over {days} day(s) ago",
                params={"days": days},
                commit=True,
            )
            url = self.get_url(".details_view", id=job.id)
            flash(
                Markup(
                    'Clearing finished jobs older than {} day(s) in job <a href="{}">#{}</a>.'
                ).format(days, url, job.id),
                "success",
            )
        return self._back()

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        if not self.jobs.can(perms.RUN):
            flash("You do not have the 'run' permission.", "error")
            return redirect(self.get_url(".index_view"))
        name = request.values.get("type", "")
        # Built-in types start from their own controls ("Clear old jobs" needs ``prune``).
        runnable = [t for t in self.jobs.registry if not t.builtin and self.jobs.can(perms.RUN, t)]
        job_type = next((t for t in runnable if t.name == name), None)
        if name and job_type is None:
            if name in self.jobs.registry:
                flash(f"You may not run {self.jobs.registry.get(name).title!r} jobs.", "error")
            else:
                flash(f"Unknown job type {_clip(name)!r}.", "error")
        form = run_form(
            job_type.params if job_type else None,
            request.form if request.method == "POST" else None,
        )
        if request.method == "POST" and job_type is not None:
            if form.validate():
                params = {k: v for k, v in form.data.items() if k != "csrf_token"}
                try:
                    job = self.jobs.enqueue(job_type.name, params=params, commit=True)
                except JobsAdminError as exc:
                    self.jobs.db.session.rollback()
                    if isinstance(exc, InvalidParams):
                        # What the form's validators could not see (a NUL) shows at its field.
                        for field, messages in exc.errors.items():
                            if field in form._fields:
                                form[field].errors = [*form[field].errors, *messages]
                    flash(str(exc), "error")
                else:
                    url = self.get_url(".details_view", id=job.id)
                    flash(
                        Markup('Started job <a href="{}">#{} {}</a>.').format(
                            url, job.id, job.name
                        ),
                        "success",
                    )
                    return redirect(self.get_url(".index_view"))
            elif "csrf_token" in form.errors:
                flash("The form expired or lacks its CSRF token; nothing was started.", "error")
        return self.render(
            "jobs_admin/new.html",
            job_types=runnable,
            job_type=job_type,
            form=form,
        )


def _clip(value: str, limit: int = 40) -> str:
    """``value`` cut to ``limit`` characters for a message: a page never echoes a whole
    value it refused (it may be megabytes, or bait)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _literal(n: int) -> Any:
    """A LIMIT/OFFSET value rendered into the SQL, so the planner knows it."""
    return sa.bindparam(None, int(n), type_=sa.Integer, literal_execute=True)
