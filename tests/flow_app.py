"""The app of the flow-control process tests (``--app tests.flow_app:create_app``): the demo
host plus ``flow.*`` job types that record each run's start and end instants (``time.time()``)
in the ``flow_marker`` table, committed with the job's end."""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from flask import Flask

import host_app
from host_app.extensions import db, jobs
from jobs_admin import JobContext

MARKER_DDL = (
    "CREATE TABLE IF NOT EXISTS flow_marker (job_id BIGINT NOT NULL, type VARCHAR(50) NOT NULL,"
    " started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION NOT NULL, pid INTEGER NOT NULL)"
)


def _run(ctx: JobContext, sleep: float) -> None:
    started = time.time()
    if sleep:
        time.sleep(sleep)
    db.session.execute(
        sa.text(
            "INSERT INTO flow_marker (job_id, type, started, ended, pid)"
            " VALUES (:j, :t, :s, :e, :p)"
        ),
        {"j": ctx.job_id, "t": ctx.job_type, "s": started, "e": time.time(), "p": os.getpid()},
    )


if "flow.two" not in jobs.registry:

    @jobs.job_type("flow.two", title="Flow: two at a time", max_concurrency=2)
    def two(ctx: JobContext, sleep: float = 0.02) -> None:
        """At most two run at once across every process."""
        _run(ctx, sleep)

    @jobs.job_type("flow.rated", title="Flow: 20 a second", rate_limit="20/s")
    def rated(ctx: JobContext, sleep: float = 0.0) -> None:
        """At most twenty start per second across every process."""
        _run(ctx, sleep)

    @jobs.job_type("flow.free", title="Flow: unlimited")
    def free(ctx: JobContext, sleep: float = 0.0) -> None:
        """No limit: paused by the tests."""
        _run(ctx, sleep)


def create_app() -> Flask:
    """The demo host configured from ``FLASK_*`` environment variables."""
    return host_app.create_app()
