"""One app's jobs_admin: what the service layer, the runner, the worker, the live feed and the CLI
work with (never the :class:`~jobs_admin.JobsAdmin` facade itself)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from .config import Settings
from .connections import OwnConnections
from .models import Models
from .permissions import Access
from .registry import Registry
from .store import JobStore

if TYPE_CHECKING:
    from .live.feed import LiveFeed
    from .worker import Worker

#: The key of ``app.extensions`` whose value gives an app's runtime (``.runtime(app)``).
EXTENSION_KEY = "jobs_admin"


class Runtime:
    """Everything jobs_admin set up for one app, made once by ``JobsAdmin.init_app``.

    Lower modules get it explicitly (``run_job(rt, ...)``, ``Worker(rt)``, ``LiveFeed(rt)``)
    and the functions of :mod:`jobs_admin.service` take it first, so none of them needs the
    extension object or an app context to find its database, settings or hooks.

    :param app: the app (held weakly: the extension keeps runtimes keyed by their app).
    :param db: the host's ``flask_sqlalchemy.SQLAlchemy``.
    :param models: the jobs tables' model classes on ``db``.
    :param registry: the registered job types (shared by every app of the extension).
    :param access: the host's permission, identity and visibility hooks (shared likewise).
    :param settings: the app's ``JOBS_ADMIN_*`` settings.
    :param engine: the app's engine (``db.engine`` in its app context).
    :param store: the store of that engine's database.
    :param connections: the connections jobs_admin's own writes go through.
    """

    def __init__(
        self,
        app: Flask,
        *,
        db: Any,
        models: Models,
        registry: Registry,
        access: Access,
        settings: Settings,
        engine: sa.Engine,
        store: JobStore,
        connections: OwnConnections,
    ) -> None:
        self._app = weakref.ref(app)
        self.db = db
        self.models = models
        self.Job = models.Job
        self.JobEvent = models.JobEvent
        self.registry = registry
        self.access = access
        self.settings = settings
        self.engine = engine
        self.store = store
        self.connections = connections
        #: This process's worker for the app (``service.start_worker``), or ``None``.
        self.worker: Worker | None = None
        #: This process's live change feed for the app (``service.live_feed``), or ``None``.
        self.live: LiveFeed | None = None
        #: Guards :attr:`worker` and :attr:`live`.
        self.lock = threading.Lock()
        #: A place for each CSV export streaming now (``JOBS_ADMIN_MAX_EXPORTS``).
        self.exports = threading.BoundedSemaphore(settings.max_exports)

    @property
    def app(self) -> Flask:
        """The app.

        :raises RuntimeError: the app is gone (only a thread that outlived it can see that).
        """
        app = self._app()
        if app is None:
            raise RuntimeError("the app of this jobs_admin runtime no longer exists")
        return app

    def snapshot(self, job_id: int) -> Any:
        """The job ``job_id`` loaded detached from any session (for signals sent outside a
        request), or ``None``."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(self.Job, job_id)

    def snapshots(self, ids: Sequence[int]) -> list[Any]:
        """:meth:`snapshot` of several jobs in one query, in the order of ``ids``."""
        with Session(self.engine, expire_on_commit=False) as session:
            return self.store.jobs_by_id(session, ids)

    def wake_worker(self) -> None:
        """Make this process's worker look for due jobs now (a job became due here)."""
        worker = self.worker
        if worker is not None and worker.running:
            worker.wake()

    def wake_live(self) -> None:
        """Make this process's live feed read now (this process committed a change)."""
        feed = self.live
        if feed is not None and feed.running:
            feed.wake()

    def __repr__(self) -> str:
        app = self._app()
        return f"<jobs_admin Runtime of {app.name if app is not None else 'a gone app'!r}>"


def runtime_of(app: Flask | None = None) -> Runtime:
    """The runtime of ``app`` (default: the current app).

    :raises RuntimeError: jobs_admin is not initialised on the app (or no app context).
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    ext = app.extensions.get(EXTENSION_KEY)
    if ext is None:
        raise RuntimeError("jobs_admin is not initialised on this app; call jobs.init_app(app)")
    runtime: Runtime = ext.runtime(app)
    return runtime
