"""The :class:`JobsAdmin` extension: wiring into a Flask app and the public API."""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session
from wtforms import Form

from . import _listener, permissions, signals
from ._state import AppState
from .builtins import register_builtins
from .config import Settings, read_settings
from .connections import OwnConnections, enable_wal, own_connections
from .errors import InvalidArgument, InvalidParams, JobNotFound
from .models import Models, define_models, utcnow
from .registry import Registry, RetryItems, describe_char, make_job_type, unstorable_char
from .store import CHANGED_KEY, JobStore, make_store, remove_files

log = logging.getLogger("jobs_admin")

F = TypeVar("F", bound=Callable[..., Any])

_WAKE_KEY = "jobs_admin_wake"


class JobsAdmin:
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
    ``JOBS_ADMIN_LIVE_MAX_SOCKETS``, ``JOBS_ADMIN_LIVE_RECHECK``.

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
        register_builtins(self)
        self.category = category
        self.view_class = view_class
        self._admin = admin
        self._checker: permissions.Checker | None = None
        self._identity: permissions.Identity = permissions.default_identity
        self._current_user: permissions.UserLoader | None = None
        self._visibility: permissions.Visibility | None = None
        self._states: weakref.WeakKeyDictionary[Flask, AppState] = weakref.WeakKeyDictionary()
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
        self._states[app] = AppState(settings=settings, store=store, connections=own)
        app.extensions["jobs_admin"] = self

        # A commit of a change made through a plain connection wakes this process's live feed.
        app_ref = weakref.ref(app)
        for target in {engine, own.engine}:
            event.listen(target, "commit", lambda conn: self._changed_commit(app_ref, conn))
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

    def connections(self, app: Flask | None = None) -> OwnConnections:
        """The connections jobs_admin's own writes go through for ``app`` (default: current).

        On a SQLite file, a pool of jobs_admin's own next to the host's (see
        :mod:`jobs_admin.connections`); elsewhere the host's engine.
        """
        own = self._state(app).connections
        assert own is not None  # set by init_app with the state
        return own

    @property
    def store(self) -> JobStore:
        """The store of the current app's database: :meth:`store_of` the current app.

        :raises RuntimeError: no app context, or ``init_app`` did not run on this app.
        """
        return self._state().store

    def store_of(self, app: Flask | None = None) -> JobStore:
        """The store of ``app``'s database (all job SQL; see :mod:`jobs_admin.store`), chosen
        once by :meth:`init_app` from its engine's dialect; for threads without an app context.

        :param app: the app (default: the current app).
        :raises RuntimeError: ``init_app`` did not run on this app.
        """
        return self._state(app).store

    def _state(self, app: Flask | None = None) -> AppState:
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            return self._states[app]
        except KeyError:
            raise RuntimeError(
                "jobs_admin is not initialised on this app; call jobs.init_app(app)"
            ) from None

    def settings(self, app: Flask | None = None) -> Settings:
        """The ``JOBS_ADMIN_*`` settings of ``app`` (default: the current app)."""
        return self._state(app).settings

    def export_slot(self, app: Flask | None = None) -> Callable[[], None] | None:
        """Take a place for one streamed CSV export of ``app`` in this process.

        :returns: the function that gives the place back (call it once, when the body is
            closed), or ``None`` when ``JOBS_ADMIN_MAX_EXPORTS`` exports stream already.
        """
        slots = self._state(app).exports
        return slots.release if slots.acquire(blocking=False) else None

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
                )
            )
            return func

        return decorator

    def permission_checker(self, func: permissions.Checker) -> permissions.Checker:
        """Register ``check(user, permission, job=None) -> bool``; return it unchanged."""
        self._checker = func
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
        self._visibility = func
        return func

    def visibility(self, user: Any, *, sees_all: bool | None = None) -> Any:
        """The SQL condition on :attr:`Job` that the jobs ``user`` may see meet, or ``None``.

        ``None`` means every job (``view_all`` and no :meth:`visible_jobs` condition); a user
        without ``view_all`` sees only the jobs whose ``created_by`` is theirs.

        :param user: the user (``None``: nobody, who sees nothing).
        :param sees_all: whether ``user`` has ``view_all``, when the caller knows already.
        """
        if user is None:
            return sa.false()
        conditions = []
        if sees_all is None:
            sees_all = self.can(permissions.VIEW_ALL, user=user)
        if not sees_all:
            who = self.identity(user)
            if not who:
                return sa.false()
            conditions.append(self.Job.created_by == who)
        extra = self.host_visibility(user)
        if extra is not None:
            conditions.append(extra)
        return sa.and_(*conditions) if conditions else None

    def host_visibility(self, user: Any) -> Any:
        """The :meth:`visible_jobs` condition of ``user``, or ``None`` (none registered, or
        none for this user): what the per-status counters cannot answer for."""
        if self._visibility is None or user is None:
            return None
        return self._visibility(user)

    def user_identity(self, func: permissions.Identity) -> permissions.Identity:
        """Register ``identity(user) -> str``, how ``created_by`` names a user."""
        self._identity = func
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
        self._current_user = func
        return func

    def get_current_user(self) -> Any:
        """The user of the current request, or ``None`` (nobody logged in, or no request):
        what :meth:`current_user` registered, by default Flask-Login's ``current_user``."""
        if self._current_user is None:
            return permissions.current_user_or_none()
        if not has_request_context():
            return None
        user = self._current_user()
        if user is None or not getattr(user, "is_authenticated", True):
            return None
        return user

    def identity(self, user: Any) -> str | None:
        """The string that names ``user`` in ``created_by`` and ``updated_by``."""
        return None if user is None else self._identity(user)

    def can(self, permission: str, job: Any = None, user: Any = None) -> bool:
        """Whether ``user`` (default: the logged-in user) has ``permission`` (on ``job``)."""
        if user is None:
            user = self.get_current_user()
        return permissions.can(self._checker, self.identity, user, permission, job)

    @property
    def has_permission_checker(self) -> bool:
        """Whether the host registered a permission checker (without one, nothing is allowed)."""
        return self._checker is not None

    def answers(self, user: Any) -> permissions.Answers:
        """The permission answers of ``user``, each question put to the host's checker once:
        for a page that asks the same questions many times (the admin keeps one per request).

        :param user: the user (``None``: nobody, who may do nothing).
        """
        return permissions.Answers(self._checker, self.identity, user)

    # -- jobs ------------------------------------------------------------------------------

    def enqueue(
        self,
        type: str,
        *,
        name: str | None = None,
        reference: str | None = None,
        priority: int = 0,
        run_at: datetime | None = None,
        params: Mapping[str, Any] | None = None,
        created_by: str | None = None,
        commit: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Add a job of the registered ``type`` to the caller's transaction; return the ``Job``.

        The job is flushed (it has an id) and becomes visible to workers when the caller commits.

        :param type: a registered job type name.
        :param name: what the admin list shows (defaults to the type's title).
        :param reference: a free reference (an order number) to search by.
        :param priority: higher runs first.
        :param run_at: a timezone-aware time before which it does not run.
        :param params: the params as a mapping (use it when a param is called like an option).
        :param created_by: who to record as its creator (defaults to the logged-in user).
        :param commit: commit the session at once.
        :param kwargs: the params, by keyword.
        :raises UnknownJobType: no such type.
        :raises InvalidParams: params that do not validate, are not JSON, or are too large.
        """
        job_type = self.registry.get(type)
        merged = dict(params or {})
        clash = sorted(set(merged) & set(kwargs))
        if clash:
            raise InvalidParams(f"params given twice: {', '.join(clash)}")
        merged.update(kwargs)
        data = job_type.validate(merged, self.settings().max_params_bytes)
        if run_at is not None and run_at.tzinfo is None:
            raise InvalidParams("run_at must be timezone-aware")
        if created_by is None:
            created_by = self.identity(self.get_current_user())
        # created_by too: it may come from the caller or from the host's identity hook.
        for label, value in (("name", name), ("reference", reference), ("creator", created_by)):
            if value is not None and len(value) > 200:
                raise InvalidParams(f"the job's {label} is longer than 200 characters")
            bad = None if value is None else unstorable_char(value)
            if bad is not None:
                raise InvalidParams(
                    f"the job's {label} contains {describe_char(bad)},"
                    " which the database cannot store"
                )
        session = self.db.session
        job = self.store.enqueue(
            session,
            type=job_type.name,
            name=name or job_type.title,
            reference=reference or None,
            params=data,
            priority=int(priority),
            run_at=run_at or utcnow(),
            max_attempts=job_type.max_attempts,
            created_by=created_by,
            updated_by=created_by,
        )
        session.info[_WAKE_KEY] = True
        signals.job_enqueued.send(current_app._get_current_object(), job=job)  # type: ignore[attr-defined]
        if commit:
            session.commit()
        return job

    def get(self, job: Any) -> Any:
        """Return the ``Job`` with this id (or reload this ``Job``), or ``None``."""
        return self.db.session.get(self.Job, _job_id(job))

    def _require(self, job: Any) -> Any:
        found = self.get(job)
        if found is None:
            raise JobNotFound(_job_id(job))
        return found

    def _snapshot(self, job_id: int) -> Any:
        """Load a job detached from any session (for signals sent outside a request)."""
        with Session(self.db.engine, expire_on_commit=False) as session:
            return session.get(self.Job, job_id)

    def _snapshots(self, ids: Sequence[int]) -> list[Any]:
        """:meth:`_snapshot` of several jobs in one query, in the order of ``ids``."""
        with Session(self.db.engine, expire_on_commit=False) as session:
            return self.store.jobs_by_id(session, ids)

    def retry(self, job: Any, *, user: Any = None) -> Any:
        """Put a failed, partial or cancelled job back in the queue; commit; return it.

        :param job: a ``Job`` or its id.
        :param user: who retries it (default: the logged-in user), for the audit trail.
        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is pending, running or completed.
        :raises UnknownJobType: its type is no longer registered.
        """
        job_id = _job_id(job)
        row = self._require(job_id)
        job_type = self.registry.get(row.type)
        who = self._who(user)
        session = self.db.session
        try:
            old_file = self.store.retry(session, job_id, who, job_type.max_attempts)
            session.info[_WAKE_KEY] = True
            session.commit()
        except Exception:
            session.rollback()
            raise
        if old_file:
            remove_files(self.settings().results_dir, [old_file])
        return self._require(job_id)

    def retry_failed_items(self, job: Any, *, user: Any = None) -> Any:
        """Start a new job over only the failed items of a partial job; commit; return it.

        :raises InvalidTransition: the job is not partial.
        :raises InvalidArgument: its type declares no ``retry_items`` hook.
        """
        from .errors import InvalidTransition

        row = self._require(job)
        # Its status now, from the database (locked on PostgreSQL): the session may hold a row
        # another request has deleted or retried since.
        status = self.store.current_status(self.db.session, row.id, lock=True)
        if status is None:
            raise JobNotFound(row.id)
        if status != "partial":
            raise InvalidTransition(row.id, status, "pending", "retry its failed items")
        job_type = self.registry.get(row.type)
        if job_type.retry_items is None:
            raise InvalidArgument(f"job type {row.type!r} cannot retry only its failed items")
        keys = self.store.failed_item_keys(self.db.session, row.id)
        params = job_type.retry_items(dict(row.params or {}), keys)
        who = self._who(user)
        new = self.enqueue(
            row.type,
            name=f"{row.name} (failed items)",
            reference=row.reference,
            priority=row.priority,
            params=params,
            created_by=who,
        )
        new.retry_of = row.id
        from .models import EventKind

        self.store.event(
            self.db.session,
            row.id,
            EventKind.ACTION,
            f"failed items retried by {who or 'system'} as job {new.id}",
            data={"action": "retry_items", "user": who, "job": new.id, "items": len(keys)},
        )
        # Its audit trail changed: open detail pages of it refresh.
        self.store.touch(self.db.session, [row.id])
        self.db.session.commit()
        return new

    def cancel(self, job: Any, *, user: Any = None) -> Any:
        """Cancel a pending job, or ask a running one to stop; commit; return it.

        A running job stops at its next ``ctx.check_cancelled()``; items done stay done.

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is finished, or running and of a non-cancellable type.
        """
        job_id = _job_id(job)
        row = self._require(job_id)
        cancellable = row.type not in self.registry or self.registry.get(row.type).cancellable
        session = self.db.session
        try:
            old = self.store.cancel(session, job_id, self._who(user), cancellable)
            session.commit()
        except Exception:
            session.rollback()
            raise
        worker = self._state().worker
        ctx = worker.context(job_id) if worker is not None else None
        if ctx is not None:
            ctx.request_stop("cancelled")
        row = self._require(job_id)
        if old.value == "pending":
            signals.job_finished.send(current_app._get_current_object(), job=row)  # type: ignore[attr-defined]
        return row

    def delete(self, job: Any, *, user: Any = None) -> None:
        """Delete a finished job, its events and its result file; commit.

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is still pending or running.
        """
        job_id = _job_id(job)
        row = self._require(job_id)
        session = self.db.session
        try:
            path = self.store.delete(session, job_id)
            # Detached with its attributes loaded, so job_deleted receivers can read them (the
            # commit would expire it, and a refresh of a deleted row raises).
            session.expunge(row)
            session.commit()
        except Exception:
            session.rollback()
            raise
        if path:
            remove_files(self.settings().results_dir, [path])
        signals.job_deleted.send(current_app._get_current_object(), job=row)  # type: ignore[attr-defined]

    def prune(self, days: int | None = None, *, wait: bool = True) -> int:
        """Delete finished jobs that finished more than ``days`` ago, in batches; return how many.

        Synchronous: it returns when the last batch is deleted. The admin's "Clear old jobs" and
        the daily housekeeping run the same batches as a ``jobs_admin.prune`` job instead.

        One process prunes at a time (a PostgreSQL advisory lock); each batch of
        ``JOBS_ADMIN_PRUNE_BATCH`` jobs is one statement in its own short transaction, so workers
        and the admin never wait long on it. On SQLite, where a batch holds the single write
        lock, the lock then stays free for ``JOBS_ADMIN_PRUNE_PAUSE`` seconds.

        :param days: the cut-off in days (default ``JOBS_ADMIN_RETENTION_DAYS``).
        :param wait: if another process is pruning, wait for it (else return 0 at once).
        :raises InvalidArgument: ``days`` is negative.
        """
        return self.prune_in_batches(days, wait=wait)

    def prune_in_batches(
        self,
        days: int | None = None,
        *,
        wait: bool = True,
        on_batch: Callable[[int], None] | None = None,
        on_wait: Callable[[], None] | None = None,
        poll: float = 1.0,
    ) -> int:
        """:meth:`prune`, telling the caller of each batch and of the wait for another prune.

        :param days: the cut-off in days (default ``JOBS_ADMIN_RETENTION_DAYS``).
        :param wait: if another process is pruning, wait for it (else return 0 at once).
        :param on_batch: called with the number of jobs each committed batch deleted; what it
            raises stops the prune after that batch (the lock is released).
        :param on_wait: when given, the lock is tried every ``poll`` seconds instead of waited
            for, and this is called before each wait (it may raise to give up).
        :param poll: seconds between two tries of the lock when ``on_wait`` is given.
        :raises InvalidArgument: ``days`` is negative.
        """
        settings = self.settings()
        days = settings.retention_days if days is None else days
        if int(days) != days or days < 0:
            raise InvalidArgument("days must be a whole number, 0 or more")
        cutoff = utcnow() - timedelta(days=days)
        own = self.connections()
        with own.engine.connect() as lock:
            if on_wait is not None and wait:
                while not self.store.session_lock(lock, "prune", False):
                    on_wait()
                    time.sleep(poll)
            elif not self.store.session_lock(lock, "prune", wait):
                return 0
            try:
                with own.engine.connect() as conn:
                    total = self._prune_batches(conn, cutoff, settings, on_batch)
            finally:
                self.store.session_unlock(lock, "prune")
        signals.jobs_pruned.send(current_app._get_current_object(), count=total)  # type: ignore[attr-defined]
        return total

    def _prune_batches(
        self,
        conn: sa.Connection,
        cutoff: datetime,
        settings: Settings,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """:meth:`prune`'s batches on ``conn``, each its own transaction; return how many."""
        store = self.store
        batch = settings.prune_batch or store.prune_batch_size
        total = 0
        with store.pruning(conn):
            while True:
                started = time.monotonic()
                with self.connections().transaction(conn):
                    n, files = store.prune_batch(conn, cutoff, batch)
                freed = time.monotonic()
                total += n
                remove_files(settings.results_dir, files)
                if on_batch is not None and n:
                    on_batch(n)
                # Checkpointed by the prune itself as it goes: a commit of another writer that
                # finds 1,000 pages or more in SQLite's WAL would checkpoint them all itself.
                store.checkpoint(conn)
                if n < batch:
                    return total
                free = store.prune_pause(settings.prune_pause, freed - started)
                if free:
                    # The checkpoint's time counts in the pause: the lock was free meanwhile.
                    time.sleep(max(0.0, free - (time.monotonic() - freed)))

    def count_prunable(self, days: int | None = None) -> int:
        """How many jobs :meth:`prune` with these ``days`` would delete now."""
        days = self.settings().retention_days if days is None else days
        if int(days) != days or days < 0:
            raise InvalidArgument("days must be a whole number, 0 or more")
        return self.store.count_prunable(self.db.session, utcnow() - timedelta(days=days))

    def counts(self, user: Any = None) -> dict[str, int]:
        """Jobs per status and ``total``: of everyone, or created by ``user`` when given."""
        created_by = None if user is None else (self.identity(user) or "")
        return self.store.counts(self.db.session, created_by)

    def recount(self) -> dict[str, int]:
        """Rebuild the per-status counters from the jobs table; commit; return the counts."""
        with self.connections().write() as conn:
            return self.store.recount(conn)

    def rescue(self) -> tuple[list[int], list[int]]:
        """Settle running jobs whose worker stopped heartbeating; return (requeued, failed)."""
        settings = self.settings()
        with self.connections().write() as conn:
            requeued, failed = self.store.rescue(conn, settings.stale_after)
        if requeued or failed:
            log.warning(
                "jobs_admin rescued jobs of lost workers: requeued %s, failed %s", requeued, failed
            )
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        for job_id in failed:
            signals.job_finished.send(app, job=self._snapshot(job_id))
        if requeued:
            self._wake()
        return requeued, failed

    # -- running ---------------------------------------------------------------------------

    def work_off(self, limit: int | None = None) -> int:
        """Run due pending jobs one by one in this thread until none is left; return how many.

        For tests and scripts: no scheduler, no threads. Jobs retried with a backoff are not due
        yet and stay pending.

        :param limit: stop after this many jobs.
        """
        from .runner import run_job
        from .worker import worker_name

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        name = worker_name() + ":work_off"
        self.db.session.commit()
        ran = 0
        while limit is None or ran < limit:
            with self.connections().write() as conn:
                ids = self.store.claim(conn, name, 1)
            if not ids:
                break
            run_job(app, self, ids[0], name, lambda _id, _ctx: None)
            ran += 1
        self.db.session.expire_all()
        return ran

    def start_worker(self, concurrency: int | None = None) -> Any:
        """Start this process's worker for the current app if it is not running; return it.

        :param concurrency: job threads (default ``JOBS_ADMIN_CONCURRENCY``).
        """
        from .worker import Worker

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        state = self._state(app)
        with state.lock:
            worker = state.worker
            if worker is not None and worker.running:
                return worker
            worker = Worker(app, self, concurrency)
            state.worker = worker
            worker.start()
            return worker

    def stop_worker(self, wait: bool = True) -> list[int]:
        """Stop this process's worker; return the ids of jobs still running when it stopped.

        :param wait: wait up to ``JOBS_ADMIN_SHUTDOWN_GRACE`` for running jobs.
        """
        state = self._state()
        with state.lock:
            worker, state.worker = state.worker, None
        if worker is None:
            return []
        return worker.stop(wait=wait)

    def worker(self) -> Any:
        """This process's running worker for the current app, or ``None``."""
        worker = self._state().worker
        return worker if worker is not None and worker.running else None

    def _lazy_start(self) -> None:
        state = self._state()
        worker = state.worker
        if worker is not None and worker.pid == os.getpid():
            return
        self.start_worker()

    def _wake(self) -> None:
        if not has_app_context():
            return
        state = self._states.get(current_app._get_current_object())  # type: ignore[attr-defined]
        if state is not None and state.worker is not None and state.worker.running:
            state.worker.wake()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_WAKE_KEY, False):
            self._wake()
        if session.info.pop(CHANGED_KEY, False) and has_app_context():
            self._live_wake(current_app._get_current_object())  # type: ignore[attr-defined]

    def _changed_commit(self, app_ref: weakref.ref[Flask], conn: Any) -> None:
        if conn.info.pop(CHANGED_KEY, False):
            app = app_ref()
            if app is not None:
                self._live_wake(app)

    # -- live updates ----------------------------------------------------------------------

    def live_feed(self, app: Flask | None = None) -> Any:
        """This process's live change feed for ``app`` (default: the current app); made lazily.

        The feed reads only while websockets are connected (see :mod:`jobs_admin.live`).
        """
        from .live.feed import LiveFeed

        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        state = self._state(app)
        with state.lock:
            feed = state.live
            if feed is None or feed.pid != os.getpid():
                feed = state.live = LiveFeed(app, self)
            return feed

    def live_cursor(self) -> str:
        """The live feed's cursor of "now", for a page about to be rendered.

        Read it before the page's own queries: the page's websocket then gets every change
        from this moment on, none lost between rendering and connecting.
        """
        return self.store.change_cursor(self.db.session)

    def stop_live(self, app: Flask | None = None, timeout: float = 5.0) -> None:
        """Close this process's live websockets of ``app`` (default: the current app) and stop
        its feed; later sockets are refused. For a server that shuts down: an open socket
        otherwise holds a graceful stop for its whole timeout (see ``docs/deploy``).
        """
        feed = self._state(app).live
        if feed is not None:
            feed.stop(timeout)

    def _live_wake(self, app: Flask) -> None:
        state = self._states.get(app)
        feed = state.live if state is not None else None
        if feed is not None and feed.running:
            feed.wake()

    def _who(self, user: Any) -> str | None:
        if user is None:
            user = self.get_current_user()
        return self.identity(user)

    def __repr__(self) -> str:
        return f"<JobsAdmin {len(self.registry)} job types>"


def _job_id(job: Any) -> int:
    if isinstance(job, int):
        return job
    if isinstance(job, str) and job.isdigit():
        return int(job)
    job_id = getattr(job, "id", None)
    if job_id is None:
        raise InvalidArgument(f"not a job or a job id: {job!r}")
    return int(job_id)
