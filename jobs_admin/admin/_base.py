"""What every part of the job view shares: access, the jobs a user may see, redirects."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
)
from flask_admin.helpers import get_redirect_target

from .. import permissions as perms
from ..errors import InvalidArgument

if TYPE_CHECKING:
    # Type checkers see the mixins as what they end up in; at run time they are plain classes
    # whose ``super()`` reaches Flask-Admin's ModelView through :class:`JobView`'s MRO.
    from flask_admin.contrib.sqla import ModelView as _Base

    from ..extension import JobsAdmin
else:
    _Base = object

#: Job ids are 64-bit integers; a larger number in a URL is no job (not a database error).
_MAX_ID = 2**63 - 1

#: Characters that a browser drops or reads as a slash in a URL: a ``?url=`` holding them is
#: not trusted as a local path.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")

#: Where a request keeps what its view worked out once (``request.environ``: one per request,
#: unlike ``flask.g``, which an app context held open around several requests would share).
_STATE = "jobs_admin.view_state"
_ANSWERS = "jobs_admin.answers"


def local(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/admin/...``), else ``None``.

    Flask-Admin's ``is_safe_url`` lets ``http:evil.example`` through (it resolves to this host,
    but browsers follow the redirect Werkzeug makes of it to ``evil.example``): an open
    redirect. A path that starts with one slash is the only kind the views ever send.

    :param target: a URL from the request.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    return None if _URL_UNSAFE.search(target) else target


def redirect_target() -> str | None:
    """The request's ``url`` argument, if it is a local path (see :func:`local`)."""
    return local(get_redirect_target())


def clip(value: str, limit: int = 40) -> str:
    """``value`` cut to ``limit`` characters for a message: a page never echoes a whole
    value it refused (it may be megabytes, or bait).

    :param value: the refused value.
    :param limit: the most characters kept, the ellipsis included.
    """
    return value if len(value) <= limit else value[: limit - 1] + "…"


def request_answers(jobs: JobsAdmin) -> perms.Answers:
    """The current user's permission answers, made once per request and shared by every jobs
    view drawn in it (the Jobs view, and the Workers and Job types menu entries)."""
    if not has_request_context():
        return jobs.answers(jobs.get_current_user())
    answers = request.environ.get(_ANSWERS)
    if answers is None or answers[0] is not jobs:
        answers = request.environ[_ANSWERS] = (jobs, jobs.answers(jobs.get_current_user()))
    return answers[1]


class RequestState:
    """What one request of a :class:`~jobs_admin.admin.views.JobView` computes once and
    reuses.

    :param answers: the user's permission answers for this request.
    """

    __slots__ = ("answers", "counts", "visibility")

    def __init__(self, answers: perms.Answers) -> None:
        self.answers = answers
        #: (the SQL condition of the jobs the user may see or ``None``, the host's part of it)
        self.visibility: tuple[Any, Any] | None = None
        #: ``created_by`` (``None``: everyone's) -> counts per status
        self.counts: dict[str | None, dict[str, int]] = {}


class ViewBase(_Base):
    """Access to the view, the jobs the user may see and the queries over them, and where a
    request goes back to: what the list, actions, export and run form share."""

    jobs: JobsAdmin

    # -- access ----------------------------------------------------------------------------

    @property
    def user(self) -> Any:
        """The logged-in user, or ``None``."""
        return self.jobs.get_current_user()

    def _state(self) -> RequestState:
        """This request's :class:`RequestState` (made at its first use; outside a request, a
        new one each time)."""
        if not has_request_context():
            return RequestState(self.jobs.answers(self.user))
        states = request.environ.setdefault(_STATE, {})
        state = states.get(self)
        if state is None:
            state = states[self] = RequestState(request_answers(self.jobs))
        return state

    def can(self, permission: str, job: Any = None) -> bool:
        """Whether the current user has ``permission`` (on ``job``); used by the templates.

        Answered once per request and question (:class:`~jobs_admin.permissions.Answers`);
        the actions that change a job ask ``self.jobs.can`` afresh.

        :param permission: one of :data:`~jobs_admin.permissions.PERMISSIONS`.
        :param job: the job asked about, if any.
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

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes).
    def _apply_search(
        self, query: Any, count_query: Any, joins: Any, count_joins: Any, search: str
    ) -> Any:
        # NUL ends a string for SQLite's FTS5 and is refused in PostgreSQL text (dropped by
        # split_search). A params term that does not parse: said once, the search ignored.
        try:
            clauses = self.jobs.store.search_clauses(self.jobs.db.session, search)
        except InvalidArgument as exc:
            if not g.get("jobs_admin_bad_search"):
                g.jobs_admin_bad_search = True
                message = str(exc)  # not capitalize(): it would lower-case the term
                flash(f"{message[:1].upper()}{message[1:]}; the search is ignored.", "error")
            clauses = []
        for clause in clauses:
            query = query.filter(clause)
            if count_query is not None:
                count_query = count_query.filter(clause)
        return query, count_query, joins, count_joins

    def _filtered(self, search: str | None, filters: Any) -> Any:
        """The jobs the user may see that match ``search`` and ``filters``, unsorted: the
        list's rows and the export's."""
        query = self.get_query()
        if search:
            query, *_ = self._apply_search(query, None, {}, {}, search)
        if filters and self._filters:
            # Flask-Admin 2.2.1's private method (checked by tests/test_flask_admin_private.py).
            query, *_ = self._apply_filters(query, None, {}, {}, filters)
        return query

    # -- redirects -------------------------------------------------------------------------

    def _back(self, gone: int | None = None) -> Any:
        """Redirect to the request's ``url`` argument (a local one), else the list.

        :param gone: the id of a job the request deleted, whose detail page is gone.
        """
        target = redirect_target()
        if gone is not None and target and target.startswith(self.get_url(".details_view")):
            # The detail page of a deleted job is gone: go back to the list it was opened from
            # (its own ``url`` argument), so the list's filters and page survive the delete.
            target = local(parse_qs(urlsplit(target).query).get("url", [""])[0])
        return redirect(target or self.get_url(".index_view"))

    # Overrides a private Flask-Admin method, as read in Flask-Admin 2.2.1
    # (tests/test_flask_admin_private.py fails when its signature or source changes).
    def _run_view(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        response = super()._run_view(fn, *args, **kwargs)
        # Flask-Admin's own handlers (bulk actions; create, edit and delete, which answer with
        # a redirect even when disabled) follow ``?url=`` checked only by its is_safe_url.
        if isinstance(response, Response) and 300 <= response.status_code < 400:
            location = response.headers.get("Location", "")
            if local(location) is None:
                response.headers["Location"] = self.get_url(".index_view")
        return response
