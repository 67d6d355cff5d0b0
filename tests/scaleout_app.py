"""The app `flask jobs worker` processes of the scale-out tests run (``--app tests.scaleout_app``).

It is the demo host plus ``scale.*`` job types that record each run in the ``scale_marker``
table through ``db.session``, so a marker commits together with the job's completion: one
marker per completed job means no job's work was done twice.
"""

from __future__ import annotations

import os
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

import host_app
from host_app.extensions import db, jobs
from jobs_admin import JobContext

MARKER_DDL = (
    "CREATE TABLE IF NOT EXISTS scale_marker ("
    " job_id BIGINT NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL)"
)


def _mark(ctx: JobContext) -> None:
    db.session.execute(
        sa.text("INSERT INTO scale_marker (job_id, attempt, pid) VALUES (:j, :a, :p)"),
        {"j": ctx.job_id, "a": ctx.attempt, "p": os.getpid()},
    )


if "scale.marker" not in jobs.registry:

    @jobs.job_type("scale.marker", title="Scale: marker", max_attempts=5, retry_backoff=0)
    def marker(ctx: JobContext, sleep: float = 0.0) -> None:
        """Sleep a little (so a kill can land mid-job), then record the run."""
        if sleep:
            time.sleep(sleep)
        _mark(ctx)

    @jobs.job_type("scale.resumable", title="Scale: resumable", max_attempts=2)
    def resumable(ctx: JobContext, items: int = 40, delay: float = 0.05) -> dict[str, Any]:
        """A long cancellable job that resumes from the progress it had reached."""
        ctx.set_total(items)
        start = ctx.done
        for _ in range(start, items):
            ctx.check_cancelled()
            time.sleep(delay)
            ctx.advance()
        _mark(ctx)
        return {"resumed_at": start}


def create_app() -> Flask:
    """The demo host configured from ``FLASK_*`` environment variables."""
    return host_app.create_app()
