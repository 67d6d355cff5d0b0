"""Make the screenshots of the detail page's items and step estimates and of the HTML preview:
``detail-items-steps-1400.png``, ``detail-items-steps-1024.png`` and ``html-preview.png``.

Builds the demo shop on a throwaway SQLite file, runs real demo jobs (three product imports as
the history the estimates come from, and a catalog export whose HTML catalog is previewed),
serves the app from a thread, runs a fourth import on the app's own worker at the demo's pace
and photographs it while it really runs its second step, in Debian's Chromium (never
``playwright install``)::

    python docs/screenshots/make_detail_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class QuietHandler(WSGIRequestHandler):
    """No access log lines."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _space_steps(db: Any, jobs: Any, job_id: int, minutes: list[float], end: Any) -> None:
    """Give the job's steps these lengths, the last one ending at ``end``."""
    import sqlalchemy as sa

    e = jobs.JobEvent
    steps = db.session.scalars(
        sa.select(e).where(e.job_id == job_id, e.kind == "step").order_by(e.id)
    ).all()
    at = end - timedelta(minutes=sum(minutes))
    for ev, length in zip(steps, minutes, strict=True):
        ev.at = at
        at += timedelta(minutes=length)


#: Seconds of ``DEMO_JOB_DELAY`` while the photographed import runs: 0.3 s per row, so its 140
#: rows take 42 s and the photographs catch it in its second step.
RUN_DELAY = 1.0
#: Lengths in minutes of the two steps of the history's imports: what 140 rows take at that pace.
HISTORY_STEPS = ((0.02, 0.68), (0.01, 0.72), (0.02, 0.70))


def build_app(workdir: Path) -> tuple[Any, dict[str, int]]:
    """The demo shop with the jobs photographed; returns it and their ids.

    The import shown is only queued here: :func:`shoot` runs it for real on the app's worker
    and photographs it while it imports its rows.
    """
    import sqlalchemy as sa

    from host_app import create_app
    from host_app.extensions import db, jobs
    from jobs_admin.models import utcnow

    app = create_app(
        {
            "SECRET_KEY": "screenshots",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'shop.sqlite'}",
            "JOBS_ADMIN_WORKER": "off",
            "JOBS_ADMIN_RESULTS_DIR": str(workdir / "results"),
            "DEMO_JOB_DELAY": 0,
        }
    )
    result = app.test_cli_runner().invoke(args=["demo", "init"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        now = utcnow()
        j = jobs.Job
        # The history: three imports of the same feed, finished on the last three days, whose
        # steps took what this machine's demo pace takes (about 1 s and 42 s).
        for n, lengths in enumerate(HISTORY_STEPS):
            job = jobs.enqueue(
                "products.import",
                name="ACME feed",
                rows=140,
                invalid_every=0,
                supplier="ACME",
                created_by="operator",
            )
            db.session.commit()
            jobs.work_off()
            end = now - timedelta(days=3 - n)
            start = end - timedelta(minutes=sum(lengths))
            db.session.execute(
                sa.update(j)
                .where(j.id == job.id)
                .values(created_at=start, started_at=start, finished_at=end, updated_at=end)
            )
            _space_steps(db, jobs, job.id, list(lengths), end)
            db.session.commit()
        export = jobs.enqueue(
            "catalog.export",
            name="Autumn catalog",
            definition="autumn",
            skus=[
                "TS-001",
                "TS-004",
                "HD-002",
                "MUG-003",
                "PST-007",
                "HD-009",
                "TS-007",
                "MUG-001",
            ],
            created_by="admin",
        )
        db.session.commit()
        jobs.work_off()
        shown = jobs.enqueue(
            "products.import",
            name="ACME spring feed",
            reference="FEED-2026-03",
            rows=140,
            invalid_every=7,
            supplier="ACME",
            created_by="operator",
        )
        db.session.commit()
        return app, {"import": shown.id, "export": export.id}


def _wait_for_rows(app: Any, job_id: int, rows: int) -> None:
    """Wait until the running import has handled ``rows`` rows (it must still be running)."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs

    j = jobs.Job
    deadline = time.monotonic() + 120
    with app.app_context():
        while True:
            with db.engine.connect() as conn:
                job = conn.execute(
                    sa.select(j.status, j.progress_done, j.progress_failed).where(j.id == job_id)
                ).one()
            if job.progress_done + job.progress_failed >= rows:
                assert job.status == "running", job
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} has handled only {job} rows")
            time.sleep(0.1)


def shoot(app: Any, ids: dict[str, int], out: Path) -> list[Path]:
    from host_app.extensions import jobs

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    made = []
    with app.app_context():
        app.config["DEMO_JOB_DELAY"] = RUN_DELAY
        jobs.start_worker(1)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width, rows in ((1400, 50), (1024, 60)):
                context = browser.new_context(
                    viewport={"width": width, "height": 1000}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                _wait_for_rows(app, ids["import"], rows)
                page.goto(base + f"/admin/jobs/details/?id={ids['import']}")
                page.wait_for_load_state("networkidle")
                page.click("a[aria-controls=jobs-admin-step-2]")
                page.locator("#jobs-admin-step-2").wait_for(state="visible")
                page.wait_for_timeout(1200)  # the countdown's first ticks
                made.append(out / f"detail-items-steps-{width}.png")
                page.screenshot(path=str(made[-1]), full_page=True)
                if width == 1400:
                    page.goto(base + f"/admin/jobs/{ids['export']}/preview")
                    page.wait_for_load_state("load")
                    made.append(out / "html-preview.png")
                    page.screenshot(path=str(made[-1]), full_page=False)
                context.close()
            browser.close()
    finally:
        with app.app_context():
            jobs.cancel(ids["import"])
            jobs.stop_worker(wait=True)
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNG files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jobs-admin-shots-") as tmp:
        app, ids = build_app(Path(tmp))
        for path in shoot(app, ids, args.out):
            print(f"wrote {path}")
        with app.app_context():
            from host_app.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
