"""Make the screenshots of the detail page's items and step estimates and of the HTML preview:
``detail-items-steps-1400.png``, ``detail-items-steps-1024.png`` and ``html-preview.png``.

Builds the demo shop on a throwaway SQLite file, runs real demo jobs (three product imports as
the history the estimates come from, a fourth shown while it runs its second step, and a
catalog export whose HTML catalog is previewed), serves the app from a thread and photographs
it in Debian's Chromium (never ``playwright install``)::

    python docs/screenshots/make_detail_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
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


def build_app(workdir: Path) -> tuple[Any, dict[str, int]]:
    """The demo shop with the jobs photographed; returns it and their ids."""
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
        # The history: three imports whose two steps took about 1 and 4 minutes.
        for n, (read, write) in enumerate(((0.8, 3.5), (1.1, 4.2), (1.0, 4.0))):
            job = jobs.enqueue(
                "products.import", rows=40, invalid_every=0, supplier="Globex", created_by="admin"
            )
            db.session.commit()
            jobs.work_off()
            end = now - timedelta(days=3 - n)
            db.session.execute(sa.update(j).where(j.id == job.id).values(finished_at=end))
            _space_steps(db, jobs, job.id, [read, write], end)
            db.session.commit()
        shown = jobs.enqueue(
            "products.import",
            name="ACME spring feed",
            reference="FEED-2026-03",
            rows=60,
            invalid_every=7,
            supplier="ACME",
            created_by="operator",
        )
        db.session.commit()
        jobs.work_off()
        # Shown while it runs: 1 min 40 s into "Importing", 60 of 140 rows done.
        db.session.execute(
            sa.update(j)
            .where(j.id == shown.id)
            .values(
                status="running",
                finished_at=None,
                progress_total=140,
                phase="Importing",
                worker="shop-web-1:4242:w1",
                heartbeat_at=now,
                message="52 of 140 rows imported",
                result=None,
            )
        )
        _space_steps(db, jobs, shown.id, [1.0, 100 / 60], now)
        db.session.commit()
        jobs.recount()
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
        return app, {"import": shown.id, "export": export.id}


def shoot(app: Any, ids: dict[str, int], out: Path) -> list[Path]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    made = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width in (1400, 1024):
                context = browser.new_context(
                    viewport={"width": width, "height": 1000}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
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
