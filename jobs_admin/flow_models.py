"""The flow-control tables: ``jobs_admin_worker`` (one row per worker process) and
``jobs_admin_type_state`` (a job type's pause and limits, kept across restarts).

Declared as mixins like the job models and made concrete on the host's ``db`` by
:func:`~jobs_admin.models.define_models`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .models import UTCDateTime

#: A worker's states: claiming and running jobs; finishing its running jobs without claiming
#: new ones; handing its jobs back and exiting.
WORKER_RUNNING = "running"
WORKER_QUIET = "quiet"
WORKER_STOPPING = "stopping"
WORKER_STATES = (WORKER_RUNNING, WORKER_QUIET, WORKER_STOPPING)


class WorkerMixin:
    """Columns of ``jobs_admin_worker``: one row per running worker (embedded or CLI).

    ``state`` is what the worker is asked to be (``running``, ``quiet``, ``stopping``): an
    admin's request writes it and the worker obeys it at its next control tick; ``state_by``
    says who or what asked (a user, ``SIGTERM``, ``start``).
    """

    __tablename__ = "jobs_admin_worker"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column(sa.Integer)
    version: Mapped[str | None] = mapped_column(sa.String(50))
    embedded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    threads: Mapped[int] = mapped_column(sa.Integer, default=0)
    running: Mapped[int] = mapped_column(sa.Integer, default=0)
    state: Mapped[str] = mapped_column(sa.String(16), default=WORKER_RUNNING)
    state_by: Mapped[str | None] = mapped_column(sa.String(200))
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TypeStateMixin:
    """Columns of ``jobs_admin_type_state``: one row per job type that was ever paused or
    limited.

    ``max_concurrency`` and ``rate_limit`` are the limits in force: the ones the type declares
    in code, unless an admin set others at runtime (``limits_by`` not ``NULL``). ``window_start``
    and ``window_count`` are the rate limit's current window and the starts counted in it.
    """

    __tablename__ = "jobs_admin_type_state"

    type: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    paused_by: Mapped[str | None] = mapped_column(sa.String(200))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_concurrency: Mapped[int | None] = mapped_column(sa.Integer)
    rate_limit: Mapped[str | None] = mapped_column(sa.String(20))
    limits_by: Mapped[str | None] = mapped_column(sa.String(200))
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_count: Mapped[int] = mapped_column(sa.Integer, default=0)
