"""The :class:`JobsAdmin` extension: wiring into a Flask app and the public API."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from wtforms import Form

from . import _listener, permissions
from ._api import JobsAPI
from .builtins import register_builtins
from .config import read_settings
from .connections import enable_wal, own_connections
from .models import Models, define_models
from .registry import Links, Registry, RetryItems, make_job_type
from .runtime import EXTENSION_KEY, Runtime
from .store import CHANGED_KEY, make_store

log = logging.getLogger("jobs_admin")

F = TypeVar("F", bound=Callable[..., Any])


class JobsAdmin(JobsAPI):
    """A background-jobs monitor for a Flask app's Flask-Admin panel.

    Constructing it defines the ``Job``, ``JobEvent`` and ``JobCount`` models on ``db`` at once,
    so migrations and ``db.create_all()`` see them before any app exists. ``init_app`` wires
    one app: its settings, the admin views (when an ``Admin`` is given), the ``flask jobs`` CLI
    and the worker, started lazily on the first request when ``JOBS_ADMIN_WORKER`` is
    ``"embedded"``.

    Configuration keys (read once in :meth:`init_app`; defaults in :mod:`jobs_admin.config`):
    ``JOBS_ADMIN_WORKER``, ``JOBS_ADMIN_CONCURRENCY``, ``JOBS_ADMIN_POLL_INTERVAL``,
    ``JOBS_ADMIN_CLAIM_AHEAD``, ``JOBS_ADMIN_HEARTBEAT_INTERVAL``, ``JOBS_ADMIN_STALE_AFTER``,
    ``JOBS_ADMIN_SHUTDOWN_GRACE``, ``JOBS_ADMIN_RETENTION_DAYS``,
    ``JOBS_ADMIN_HOUSEKEEPING_CRON``, ``JOBS_ADMIN_PRUNE_BATCH``, ``JOBS_ADMIN_PRUNE_PAUSE``,
    ``JOBS_ADMIN_SQLITE_WRITE_QUEUE``, ``JOBS_ADMIN_MAX_PARAMS_BYTES``,
    ``JOBS_ADMIN_MAX_EXPORTS``, ``JOBS_ADMIN_RESULTS_DIR``, ``JOBS_ADMIN_PAGE_SIZE``,
    ``JOBS_ADMIN_DEFAULT_RANGE``,
    ``JOBS_ADMIN_LIVE_INTERVAL``, ``JOBS_ADMIN_PROGRESS_INTERVAL``, ``JOBS_ADMIN_LIVE_ORIGINS``,
    ``JOBS_ADMIN_MAX_LOG_LINES``, ``JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER``,
    ``JOBS_ADMIN_LIVE_MAX_SOCKETS``, ``JOBS_ADMIN_LIVE_RECHECK``, ``JOBS_ADMIN_MY_JOBS``,
    ``JOBS_ADMIN_STATS_RETENTION_DAYS``, ``JOBS_ADMIN_METRICS``, ``JOBS_ADMIN_METRICS_TOKEN``.

    :param app: an app to initialise now, or ``None`` to call :meth:`init_app` later.
    :param db: the host's ``flask_sqlalchemy.SQLAlchemy`` instance.
    :param admin: the host's ``flask_admin.Admin``; its panel gets the Jobs views.
    :param category: the admin menu category of the Jobs views (``None``: top level).
    :param view_class: the Jobs view's class: a subclass of
        :class:`jobs_admin.admin.views.JobView` with the host's declarations
        (``column_optional_default``, ...); ``None``: ``JobView`` itself.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: Any,
        admin: Any = None,
        category: str | None = None,
        view_class: type | None = None,
    ) -> None:
        self.db = db
        self.models: Models = define_models(db)
        #: The concrete ``Job`` model class.
        self.Job = self.models.Job
        #: The concrete ``JobEvent`` model class.
        self.JobEvent = self.models.JobEvent
        self.registry = Registry()
        register_builtins(self.registry)
        self.category = category
        self.view_class = view_class
        self._admin = admin
        #: The host's permission, identity, current-user and visibility hooks.
        self.access = permissions.Access(self.Job)
        self._runtimes: weakref.WeakKeyDictionary[Flask, Runtime] = weakref.WeakKeyDictionary()
        event.listen(db.session, "after_commit", self._after_commit)
        if app is not None:
            self.init_app(app, admin=admin)

    # -- wiring ----------------------------------------------------------------------------

    def init_app(self, app: Flask, admin: Any = None) -> None:
        """Set up jobs_admin on ``app``.

        :param app: the Flask app; ``db.init_app(app)`` must have run already.
        :param admin: the app's ``flask_admin.Admin`` (defaults to the one given to the
            constructor); ``None`` for no admin views.
        :raises RuntimeError: ``init_app`` already ran on this app, or ``db`` is not set up on it.
        """
        if "jobs_admin" in app.extensions:
            raise RuntimeError(
                "jobs_admin is already initialised on this app; call init_app once per app"
            )
        if "sqlalchemy" not in app.extensions:
            raise RuntimeError("call db.init_app(app) before jobs.init_app(app)")
        settings = read_settings(app.config, app.instance_path)
        with app.app_context():
            engine = self.db.engine
        _listener.check_driver(engine)
        # Nothing is set on the host's connections: WAL once (a setting of the database file),
        # the rest on connections of jobs_admin's own (see jobs_admin.connections).
        enable_wal(engine)
        own = own_connections(engine, settings.sqlite_write_queue)
        store = make_store(self.models, engine.dialect.name)
        rt = Runtime(
            app,
            db=self.db,
            models=self.models,
            registry=self.registry,
            access=self.access,
            settings=settings,
            engine=engine,
            store=store,
            connections=own,
        )
        self._runtimes[app] = rt
        app.extensions[EXTENSION_KEY] = self

        # A commit of a change made through a plain connection wakes this process's live feed.
        rt_ref = weakref.ref(rt)
        for target in {engine, own.engine}:
            event.listen(target, "commit", lambda conn: _changed_commit(rt_ref, conn))
            event.listen(target, "rollback", lambda conn: conn.info.pop(CHANGED_KEY, None))
        # The live socket's server options (flask-sock's key, which a host using flask-sock for
        # sockets of its own already knows), unless the host set its own: ping idle browsers (a
        # vanished one frees its thread) and refuse big client messages (the socket expects none).
        app.config.setdefault(
            "SOCK_SERVER_OPTIONS", {"ping_interval": 25, "max_message_size": 4096}
        )

        from .cli import jobs_cli

        app.cli.add_command(jobs_cli)

        admin = admin if admin is not None else self._admin
        from .admin import init_admin

        init_admin(self, app, admin)

        if settings.worker == "embedded":
            app.before_request(self._lazy_start)

    # -- registration ----------------------------------------------------------------------

    def job_type(
        self,
        name: str,
        *,
        title: str | None = None,
        params: type[Form] | None = None,
        max_attempts: int = 1,
        retry_backoff: float = 30,
        timeout: float | None = None,
        cancellable: bool = True,
        retry_items: RetryItems | None = None,
        description: str | None = None,
        record_items: bool = False,
        preview: str | None = None,
        links: Links | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as the job type ``name``; return it unchanged.

        The function is called as ``func(ctx, **params)`` with a :class:`JobContext`.

        :param name: the type's name, stored on every job (``"catalog.export"``).
        :param title: a human name for the admin (derived from ``name`` if omitted).
        :param params: a WTForms form whose fields validate and coerce the params at enqueue
            time; also the admin's run form.
        :param max_attempts: runs in all before a failing job is left ``failed``.
        :param retry_backoff: seconds before the first automatic retry; doubles each attempt.
        :param timeout: seconds a run may take before it is stopped as "timed out".
        :param cancellable: whether a running job of this type can be cancelled (it must call
            ``ctx.check_cancelled()``).
        :param retry_items: ``retry_items(params, failed_keys) -> params``: how to rerun only the
            failed items of a partial job.
        :param description: a longer text for the run form (defaults to the docstring).
        :param record_items: list every item ``ctx.item_done``/``ctx.item_failed`` report in
            the job's Items table.
        :param preview: the page of a ZIP result the HTML preview opens (``"index.html"``).
        :param links: ``links(job) -> [(label, url)]``: reference links of the detail page.
        """

        def decorator(func: F) -> F:
            self.registry.add(
                make_job_type(
                    name,
                    func,
                    title=title,
                    params=params,
                    max_attempts=max_attempts,
                    retry_backoff=retry_backoff,
                    timeout=timeout,
                    cancellable=cancellable,
                    retry_items=retry_items,
                    description=description,
                    record_items=record_items,
                    preview=preview,
                    links=links,
                )
            )
            return func

        return decorator

    def permission_checker(self, func: permissions.Checker) -> permissions.Checker:
        """Register ``check(user, permission, job=None) -> bool``; return it unchanged."""
        self.access.checker = func
        return func

    def visible_jobs(self, func: permissions.Visibility) -> permissions.Visibility:
        """Register ``visible(user)``: a SQL condition on :attr:`Job` that the jobs ``user``
        may see meet.

        The admin's list, counts, export, detail pages, actions and live updates apply it on
        top of ``view`` (own jobs) and ``view_all`` (everyone's); return ``None`` for no
        further condition. It is how a per-job ``view`` answer reaches the list cheaply: the
        detail pages and actions also ask the checker ``view`` on each job. Return it
        unchanged.
        """
        self.access.visible = func
        return func

    def user_identity(self, func: permissions.Identity) -> permissions.Identity:
        """Register ``identity(user) -> str``, how ``created_by`` names a user."""
        self.access.identify = func
        return func

    def current_user(self, func: permissions.UserLoader) -> permissions.UserLoader:
        """Register ``load() -> user or None``: who the current request's user is; return it
        unchanged.

        It replaces the default, Flask-Login's ``current_user`` (when Flask-Login is installed,
        and ``None`` without it), so a host without Flask-Login can use the admin. It is called
        in a request context only (outside one, in workers and CLI commands, there is no user),
        with every request's session, and again by each open live socket at its recheck; a
        user whose ``is_authenticated`` is false counts as nobody.
        """
        self.access.user_loader = func
        return func

    def visibility(self, user: Any, *, sees_all: bool | None = None) -> Any:
        """The SQL condition on :attr:`Job` that the jobs ``user`` may see meet, or ``None``.

        ``None`` means every job (``view_all`` and no :meth:`visible_jobs` condition); a user
        without ``view_all`` sees only the jobs whose ``created_by`` is theirs.

        :param user: the user (``None``: nobody, who sees nothing).
        :param sees_all: whether ``user`` has ``view_all``, when the caller knows already.
        """
        return self.access.visibility(user, sees_all=sees_all)

    def host_visibility(self, user: Any) -> Any:
        """The :meth:`visible_jobs` condition of ``user``, or ``None`` (none registered, or
        none for this user): what the per-status counters cannot answer for."""
        return self.access.host_visibility(user)

    def get_current_user(self) -> Any:
        """The user of the current request, or ``None`` (nobody logged in, or no request):
        what :meth:`current_user` registered, by default Flask-Login's ``current_user``."""
        return self.access.current_user()

    def identity(self, user: Any) -> str | None:
        """The string that names ``user`` in ``created_by`` and ``updated_by``."""
        return self.access.identity(user)

    def can(self, permission: str, job: Any = None, user: Any = None) -> bool:
        """Whether ``user`` (default: the logged-in user) has ``permission`` (on ``job``)."""
        return self.access.can(permission, job, user)

    @property
    def has_permission_checker(self) -> bool:
        """Whether the host registered a permission checker (without one, nothing is allowed)."""
        return self.access.checker is not None

    def answers(self, user: Any) -> permissions.Answers:
        """The permission answers of ``user``, each question put to the host's checker once:
        for a page that asks the same questions many times (the admin keeps one per request).

        :param user: the user (``None``: nobody, who may do nothing).
        """
        return self.access.answers(user)

    def __repr__(self) -> str:
        return f"<JobsAdmin {len(self.registry)} job types>"


def _changed_commit(rt_ref: weakref.ref[Runtime], conn: Any) -> None:
    """A plain connection committed: wake the live feed if the transaction changed a job."""
    if conn.info.pop(CHANGED_KEY, False):
        rt = rt_ref()
        if rt is not None:
            rt.wake_live()
