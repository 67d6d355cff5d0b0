"""Unique job types for the tests, and the enqueuer that tests/test_unique_jobs.py runs in 8
processes at once (``python -m tests.unique_app <database url> <start time>``)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import host_app
from host_app.extensions import jobs
from jobs_admin import JobContext

if "test.unique" not in jobs.registry:

    @jobs.job_type("test.unique", title="Test: unique", unique=True)
    def unique_job(ctx: JobContext, fail: bool = False, **params: Any) -> None:
        """Unique by its params; fails when asked to."""
        if fail:
            raise RuntimeError("asked to fail")

    @jobs.job_type(
        "test.unique_profile",
        title="Test: unique per profile",
        unique=lambda params: params["profile_id"],
        unique_while=("pending",),
    )
    def unique_profile(ctx: JobContext, profile_id: int, note: str = "") -> None:
        """Unique per profile while pending only."""

    @jobs.job_type(
        "test.unique_items",
        title="Test: unique items",
        unique=True,
        retry_items=lambda params, keys: {**params, "only": sorted(keys)},
    )
    def unique_items(
        ctx: JobContext, count: int, fail_every: int = 0, only: list[str] | None = None
    ) -> None:
        """Counts items; every ``fail_every``-th fails (once: not on a rerun of failed items)."""
        ctx.set_total(count)
        for n in range(1, count + 1):
            if fail_every and n % fail_every == 0 and only is None:
                ctx.item_failed(str(n), "odd luck")
            else:
                ctx.advance()


def main(url: str, start: float) -> None:
    app = host_app.create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "JOBS_ADMIN_WORKER": "off"}
    )
    with app.app_context():
        time.sleep(max(0.0, start - time.time()))
        job = jobs.enqueue("test.unique", params={"key": "same"}, commit=True)
        print(json.dumps({"id": int(job.id), "duplicate": bool(job.duplicate)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
