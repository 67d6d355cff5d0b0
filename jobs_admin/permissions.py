"""Permission names and the checks the admin views and the websocket make.

Public methods of :class:`~jobs_admin.JobsAdmin` are the host's own code and check nothing; the
views call :func:`can` for every request. Without a registered checker nothing is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import has_request_context

VIEW = "view"
VIEW_ALL = "view_all"
RUN = "run"
RETRY = "retry"
CANCEL = "cancel"
DELETE = "delete"
EXPORT = "export"
PRUNE = "prune"
SCHEDULE = "schedule"
MANAGE = "manage"

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
    SCHEDULE: "create, edit, enable, disable and delete schedules (run now needs 'run')",
    MANAGE: "quiet, resume and stop workers; pause and resume job types; change their limits",
}

#: Built-in job types that a permission other than :data:`RUN` starts: retrying one of them
#: needs that permission too (an operator without ``prune`` cannot rerun a prune).
START_PERMISSION: dict[str, str] = {"jobs_admin.prune": PRUNE}

Checker = Callable[..., bool]
Identity = Callable[[Any], str | None]
#: ``load()``: the user of the current request, or ``None`` (see ``JobsAdmin.current_user``).
UserLoader = Callable[[], Any]
#: ``visible(user)``: a SQL condition on the ``Job`` model that the jobs ``user`` may see meet,
#: or ``None`` for no condition beyond ``view``/``view_all``.
Visibility = Callable[[Any], Any]


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
    """The Flask-Login user of this request, or ``None`` without a login or a request.

    The default of ``JobsAdmin.get_current_user``; Flask-Login is optional: without it (and
    without a ``@jobs.current_user`` hook) nobody is logged in.
    """
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
    :param job: the job acted on, if any; for :data:`RUN`, the
        :class:`~jobs_admin.registry.JobType` about to run.
    """
    return Answers(checker, identity, user).can(permission, job)


def sees_all(checker: Checker | None, user: Any) -> bool:
    """Whether ``user`` may see every user's jobs."""
    return bool(checker is not None and user is not None and checker(user, VIEW_ALL))


class Answers:
    """The permission answers of one user, each question put to the checker once: :func:`can`.

    A page asks the same questions many times (the menu, the actions list, every row's buttons,
    each of which also asks ``view_all`` and, without it, ``view`` on the job): the views keep
    one per request, so the host's checker runs once per question. A job is keyed by the object
    itself, not its id: the checker may read any of its columns. The actions that change a job
    ask :func:`can` afresh.

    :param checker: the host's ``check(user, permission, job=None) -> bool``, or ``None``.
    :param identity: how a user is named in ``created_by``.
    :param user: the user (``None`` when nobody is logged in).
    """

    def __init__(self, checker: Checker | None, identity: Identity, user: Any) -> None:
        self.checker = checker
        self.user = user
        self._identity = identity
        self._own: tuple[str | None] | None = None
        #: (permission, id(job)) -> (answer, job); the job is kept so its id is not reused.
        self._answers: dict[tuple[str, int], tuple[bool, Any]] = {}

    @property
    def own(self) -> str | None:
        """The user's identity (what ``created_by`` says for the user's jobs)."""
        if self._own is None:
            self._own = (self._identity(self.user),)
        return self._own[0]

    def can(self, permission: str, job: Any = None) -> bool:
        """Whether the user has ``permission`` (on ``job``)."""
        key = (permission, id(job))
        hit = self._answers.get(key)
        if hit is not None and hit[1] is job:
            return hit[0]
        answer = self._ask(permission, job)
        self._answers[key] = (answer, job)
        return answer

    def _ask(self, permission: str, job: Any) -> bool:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        checker, user = self.checker, self.user
        if checker is None or user is None:
            return False
        if job is None:
            return bool(checker(user, permission))
        if permission == RUN:
            # ``job`` is the JobType about to run: nothing of a job's to check.
            return bool(checker(user, permission, job))
        if not self.can(VIEW_ALL) and (job.created_by is None or job.created_by != self.own):
            return False
        # The job must be visible to the user first (asked once per job, whatever is asked
        # about it next; for ``view`` itself that is the question): a checker that refuses
        # ``view`` on a job refuses everything on it.
        if permission != VIEW and not self.can(VIEW, job):
            return False
        starter = START_PERMISSION.get(getattr(job, "type", None) or "")
        if permission == RETRY and starter is not None and not self.can(starter):
            return False
        return bool(checker(user, permission, job))


class Access:
    """The host's hooks on who may do what: its permission checker, how a user is named, who
    the current user is, and which jobs a user may see.

    One per extension, shared by every app it is initialised on; the ``@jobs.*`` decorators
    set its attributes.

    :param job_model: the ``Job`` model, which :meth:`visibility` builds conditions on.
    """

    def __init__(self, job_model: Any) -> None:
        self.job_model = job_model
        #: ``check(user, permission, job=None) -> bool``; ``None``: nothing is allowed.
        self.checker: Checker | None = None
        #: How ``created_by`` names a user.
        self.identify: Identity = default_identity
        #: Who the current request's user is; ``None``: Flask-Login's ``current_user``.
        self.user_loader: UserLoader | None = None
        #: ``visible(user)``: the host's extra condition on the jobs a user may see.
        self.visible: Visibility | None = None

    def current_user(self) -> Any:
        """The user of the current request, or ``None`` (nobody logged in, or no request)."""
        if self.user_loader is None:
            return current_user_or_none()
        if not has_request_context():
            return None
        user = self.user_loader()
        if user is None or not getattr(user, "is_authenticated", True):
            return None
        return user

    def identity(self, user: Any) -> str | None:
        """The string that names ``user`` in ``created_by`` and ``updated_by``."""
        return None if user is None else self.identify(user)

    def who(self, user: Any = None) -> str | None:
        """:meth:`identity` of ``user``, by default of the current request's user."""
        return self.identity(self.current_user() if user is None else user)

    def can(self, permission: str, job: Any = None, user: Any = None) -> bool:
        """Whether ``user`` (default: the current user) has ``permission`` (on ``job``)."""
        if user is None:
            user = self.current_user()
        return can(self.checker, self.identity, user, permission, job)

    def answers(self, user: Any) -> Answers:
        """A fresh :class:`Answers` of ``user`` (``None``: nobody, who may do nothing)."""
        return Answers(self.checker, self.identity, user)

    def host_visibility(self, user: Any) -> Any:
        """The host's ``visible_jobs`` condition for ``user``, or ``None`` (none registered,
        or none for this user)."""
        if self.visible is None or user is None:
            return None
        return self.visible(user)

    def visibility(self, user: Any, *, sees_all: bool | None = None) -> Any:
        """The SQL condition that the jobs ``user`` may see meet, or ``None`` for every job.

        :param user: the user (``None``: nobody, who sees nothing).
        :param sees_all: whether ``user`` has ``view_all``, when the caller knows already.
        """
        if user is None:
            return sa.false()
        conditions = []
        if sees_all is None:
            sees_all = self.can(VIEW_ALL, user=user)
        if not sees_all:
            who = self.identity(user)
            if not who:
                return sa.false()
            conditions.append(self.job_model.created_by == who)
        extra = self.host_visibility(user)
        if extra is not None:
            conditions.append(extra)
        return sa.and_(*conditions) if conditions else None
