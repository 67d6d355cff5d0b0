"""The public API of :class:`~jobs_admin.JobsAdmin` over the runtimes of its apps: thin
methods that find the current app's :class:`~jobs_admin.runtime.Runtime` and call
:mod:`jobs_admin.service` with it."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from . import permissions, service
from .config import Settings
from .connections import OwnConnections
from .errors import InvalidArgument
from .runtime import Runtime
from .store import CHANGED_KEY, JobStore


class JobsAPI:
    """What a host calls on its ``jobs`` object besides registering (see ``JobsAdmin``)."""

    db: Any
    access: permissions.Access
    _runtimes: weakref.WeakKeyDictionary[Flask, Runtime]

    # -- runtimes --------------------------------------------------------------------------

    def runtime(self, app: Flask | None = None) -> Runtime:
        """The :class:`~jobs_admin.runtime.Runtime` of ``app`` (default: the current app): its
        settings, store, connections, worker and live feed.

        :raises RuntimeError: no app context, or ``init_app`` did not run on this app.
        """
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            return self._runtimes[app]
        except KeyError:
            raise RuntimeError(
                "jobs_admin is not initialised on this app; call jobs.init_app(app)"
            ) from None

    def connections(self, app: Flask | None = None) -> OwnConnections:
        """The connections jobs_admin's own writes go through for ``app`` (default: current).

        On a SQLite file, a pool of jobs_admin's own next to the host's (see
        :mod:`jobs_admin.connections`); elsewhere the host's engine.
        """
        return self.runtime(app).connections

    @property
    def store(self) -> JobStore:
        """The store of the current app's database: :meth:`store_of` the current app.

        :raises RuntimeError: no app context, or ``init_app`` did not run on this app.
        """
        return self.runtime().store

    def store_of(self, app: Flask | None = None) -> JobStore:
        """The store of ``app``'s database (all job SQL; see :mod:`jobs_admin.store`), chosen
        once by :meth:`init_app` from its engine's dialect; for threads without an app context.

        :param app: the app (default: the current app).
        :raises RuntimeError: ``init_app`` did not run on this app.
        """
        return self.runtime(app).store

    def settings(self, app: Flask | None = None) -> Settings:
        """The ``JOBS_ADMIN_*`` settings of ``app`` (default: the current app)."""
        return self.runtime(app).settings

    def export_slot(self, app: Flask | None = None) -> Callable[[], None] | None:
        """Take a place for one streamed CSV export of ``app`` in this process.

        :returns: the function that gives the place back (call it once, when the body is
            closed), or ``None`` when ``JOBS_ADMIN_MAX_EXPORTS`` exports stream already.
        """
        slots = self.runtime(app).exports
        return slots.release if slots.acquire(blocking=False) else None

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
        flash: bool = False,
        on_duplicate: str = "return",
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
        :param flash: flash "Started job #N" with a link to it (see :meth:`flash_started`).
        :param on_duplicate: for a ``unique`` type whose key a queued job holds: ``"return"``
            that job (``job.duplicate`` is true; nothing is added) or ``"raise"``
            :class:`~jobs_admin.errors.DuplicateJob`.
        :param kwargs: the params, by keyword.
        :raises UnknownJobType: no such type.
        :raises InvalidParams: params that do not validate, are not JSON, or are too large.
        :raises DuplicateJob: a duplicate, with ``on_duplicate="raise"``.
        """
        job = service.enqueue(
            self.runtime(),
            type,
            name=name,
            reference=reference,
            priority=priority,
            run_at=run_at,
            params=params,
            created_by=created_by,
            commit=commit,
            kwargs=kwargs,
            on_duplicate=on_duplicate,
        )
        if flash:
            self.flash_started(job)
        return job

    def flash_started(self, job: Any, category: str = "success") -> None:
        """Flash "Started job #N <name>." linking to its detail page, for a host's own view
        that enqueued it (in a request; the next page shows it).

        :param job: the ``Job`` (enqueued, so it has an id).
        :param category: the flash category.
        """
        from .panel._flash import flash_started

        flash_started(job, category)

    def get(self, job: Any) -> Any:
        """Return the ``Job`` with this id (or reload this ``Job``), or ``None``."""
        return service.get(self.runtime(), job)

    def retry(self, job: Any, *, user: Any = None) -> Any:
        """Put a failed, partial or cancelled job back in the queue; commit; return it.

        :param job: a ``Job`` or its id.
        :param user: who retries it (default: the logged-in user), for the audit trail.
        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is pending, running or completed.
        :raises UnknownJobType: its type is no longer registered.
        """
        return service.retry(self.runtime(), job, self.access.who(user))

    def retry_failed_items(self, job: Any, *, user: Any = None) -> Any:
        """Start a new job over only the failed items of a partial job; commit; return it.

        :raises InvalidTransition: the job is not partial.
        :raises InvalidArgument: its type declares no ``retry_items`` hook.
        """
        return service.retry_failed_items(self.runtime(), job, self.access.who(user))

    def cancel(self, job: Any, *, user: Any = None) -> Any:
        """Cancel a pending job, or ask a running one to stop; commit; return it.

        A running job stops at its next ``ctx.check_cancelled()``; items done stay done.

        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is finished, or running and of a non-cancellable type.
        """
        return service.cancel(self.runtime(), job, self.access.who(user))

    def delete(self, job: Any, *, user: Any = None) -> None:
        """Delete a finished job, its events and its result file; commit.

        :param user: accepted for symmetry with the other actions (a deleted job keeps no
            audit trail).
        :raises JobNotFound: no such job.
        :raises InvalidTransition: the job is still pending or running.
        """
        service.delete(self.runtime(), job)

    def count_matching(
        self, flt: Mapping[str, Any], *, user: Any = None, max_id: int | None = None
    ) -> tuple[int, int]:
        """(how many jobs ``user`` (default: the current user) may see match the stored filter
        ``flt``; the newest such id). See :func:`jobs_admin.service.count_matching`.

        :raises InvalidArgument: a filter that does not parse.
        """
        user = self.access.current_user() if user is None else user
        return service.count_matching(self.runtime(), flt, user, max_id)

    def bulk(
        self,
        action: str,
        flt: Mapping[str, Any],
        *,
        user: Any = None,
        max_id: int | None = None,
        name: str | None = None,
    ) -> tuple[Any, int]:
        """Start a ``jobs_admin.bulk`` job that does ``action`` (``retry``, ``cancel``,
        ``delete``, ``export``) on every job the stored filter ``flt`` matches; commit;
        return the job and the count matched.

        :param flt: ``{"filters": [[kind, value], ...], "search": text}`` (see
            :func:`jobs_admin.service._bulk.filter_clauses`).
        :param user: the requester (default: the current user).
        :param max_id: the newest id the confirmation counted.
        :param name: what the list shows for the job.
        :raises PermissionDenied: the user lacks the action's permission.
        :raises InvalidArgument: an unknown action or a filter that does not parse.
        """
        user = self.access.current_user() if user is None else user
        return service.start_bulk(self.runtime(), action, flt, user, max_id=max_id, name=name)

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
        return service.prune(self.runtime(), days, wait=wait)

    def count_prunable(self, days: int | None = None) -> int:
        """How many jobs :meth:`prune` with these ``days`` would delete now."""
        return service.count_prunable(self.runtime(), days)

    def counts(self, user: Any = None) -> dict[str, int]:
        """Jobs per status and ``total``: of everyone, or created by ``user`` when given."""
        created_by = None if user is None else (self.access.identity(user) or "")
        return self.store.counts(self.db.session, created_by)

    def insights(
        self, range_key: str = "24h", *, type_: str | None = None, user: Any = None
    ) -> dict[str, Any]:
        """The Insights figures over a range (``"1h"``, ``"24h"``, ``"7d"``, ``"30d"``,
        ``"90d"``), read from the rollups: ends per interval and status, failure rate, and
        per type the p50/p95 run time and p95 wait; of everyone, or of ``user``'s jobs.

        :raises InvalidArgument: an unknown range.
        """
        created_by = None if user is None else (self.access.identity(user) or "")
        return service.insights(self.runtime(), range_key, type_=type_, created_by=created_by)

    def failure_groups(self, *, user: Any = None, limit: int = 200) -> list[dict[str, Any]]:
        """Failed jobs grouped by type and cause (see :mod:`jobs_admin.stats.failures`), the
        newest failure first; of everyone, or of ``user``'s jobs."""
        created_by = None if user is None else (self.access.identity(user) or "")
        return service.failure_groups(self.runtime(), created_by=created_by, limit=limit)

    def start_failure_group(
        self, action: str, job_type: str, group: str, *, user: Any, own: bool = False
    ) -> Any:
        """Enqueue a ``jobs_admin.failure_group`` job that retries or deletes the failed jobs
        of a group (those failed so far); commit; return it.

        :param action: ``"retry"`` or ``"delete"``.
        :param own: only ``user``'s own jobs (a user without ``view_all``).
        :raises InvalidArgument: an unknown action, or no failed job in the group.
        """
        from .builtins import FAILURE_GROUP_TYPE

        if action not in ("retry", "delete"):
            raise InvalidArgument(f"unknown action {action!r}")
        rt = self.runtime()
        mine = (self.access.identity(user) or "") if own else None
        max_id = service.newest_id(rt, job_type, group, mine)
        if not max_id:
            raise InvalidArgument("no failed job is left in this group")
        verb = "Retry" if action == "retry" else "Delete"
        return self.enqueue(
            FAILURE_GROUP_TYPE,
            name=f"{verb} failed {job_type} jobs",
            reference=f"failures {job_type} {group}"[:200],
            params={
                "action": action,
                "job_type": job_type,
                "group": group,
                "max_id": max_id,
                "user_id": service.requester_id(user),
                "own": mine,
            },
            created_by=self.access.who(user),
            commit=True,
        )

    def restat(self) -> int:
        """Rebuild the rollups of job ends (Insights, metrics) and the failure groups from the
        jobs still stored; commit; return how many ends were counted."""
        return service.restat(self.runtime())

    def recount(self) -> dict[str, int]:
        """Rebuild the per-status counters from the jobs table; commit; return the counts."""
        return service.recount(self.runtime())

    def rescue(self) -> tuple[list[int], list[int]]:
        """Settle running jobs whose worker stopped heartbeating; return (requeued, failed)."""
        return service.rescue(self.runtime())

    # -- running ---------------------------------------------------------------------------

    def work_off(self, limit: int | None = None) -> int:
        """Run due pending jobs one by one in this thread until none is left; return how many.

        For tests and scripts: no scheduler, no threads. Jobs retried with a backoff are not due
        yet and stay pending.

        :param limit: stop after this many jobs.
        """
        return service.work_off(self.runtime(), limit)

    def start_worker(self, concurrency: int | None = None) -> Any:
        """Start this process's worker for the current app if it is not running; return it.

        :param concurrency: job threads (default ``JOBS_ADMIN_CONCURRENCY``).
        """
        return service.start_worker(self.runtime(), concurrency)

    def stop_worker(self, wait: bool = True) -> list[int]:
        """Stop this process's worker; return the ids of jobs still running when it stopped.

        :param wait: wait up to ``JOBS_ADMIN_SHUTDOWN_GRACE`` for running jobs.
        """
        return service.stop_worker(self.runtime(), wait)

    def worker(self) -> Any:
        """This process's running worker for the current app, or ``None``."""
        worker = self.runtime().worker
        return worker if worker is not None and worker.running else None

    def _lazy_start(self) -> None:
        service.ensure_worker(self.runtime())

    def _after_commit(self, session: Session) -> None:
        wake = session.info.pop(service.WAKE_KEY, False)
        changed = session.info.pop(CHANGED_KEY, False)
        if (wake or changed) and has_app_context():
            rt = self._runtimes.get(current_app._get_current_object())  # type: ignore[attr-defined]
            if rt is not None:
                if wake:
                    rt.wake_worker()
                if changed:
                    rt.wake_live()

    # -- live updates ----------------------------------------------------------------------

    def live_feed(self, app: Flask | None = None) -> Any:
        """This process's live change feed for ``app`` (default: the current app); made lazily.

        The feed reads only while websockets are connected (see :mod:`jobs_admin.live`).
        """
        return service.live_feed(self.runtime(app))

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
        service.stop_live(self.runtime(app), timeout)
