"""Make the README's screenshots of the jobs panel: ``jobs-list.png`` and ``job-detail.png``.

Builds the demo shop on a throwaway SQLite file, seeds a reproducible history of jobs in every
status with ``flask demo seed``, runs a few real demo jobs (a partial catalog export with a ZIP to
download, a failed VAT report with its stack trace), serves the app from a thread and photographs
it at 1400 px wide in Debian's Chromium (never ``playwright install``)::

    python docs/screenshots/make_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTH = 1400


class QuietHandler(WSGIRequestHandler):
    """No access log lines."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def build_app(workdir: Path) -> tuple[Any, dict[str, int]]:
    """The demo shop with a seeded history and a few real runs; returns it and key job ids."""
    from host_app import create_app
    from host_app.extensions import db, jobs

    app = create_app(
        {
            "SECRET_KEY": "screenshots",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'shop.sqlite'}",
            "JOBS_ADMIN_WORKER": "off",
            "JOBS_ADMIN_RESULTS_DIR": str(workdir / "results"),
            # A short pause per item: the real runs take a second, like real jobs.
            "DEMO_JOB_DELAY": 0.1,
        }
    )
    runner = app.test_cli_runner()
    for args in (["demo", "init"], ["demo", "seed", "--count", "240", "--random-seed", "11"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    with app.app_context():
        trim_active(db, jobs)
        export = jobs.enqueue(
            "catalog.export",
            name="Autumn catalog export",
            reference="CAT-2026-0815",
            created_by="operator",
            definition="autumn",
            skus=["TS-001", "TS-004", "HD-002", "X-404", "MUG-003", "PST-007", "X-017", "HD-009"],
            priority=100,
        )
        broken = jobs.enqueue(
            "reports.broken",
            name="VAT report 2026 Q3",
            reference="VAT-2026-Q3",
            created_by="admin",
            priority=99,
        )
        db.session.commit()
        ids = {"export": export.id, "broken": broken.id}
        jobs.work_off(limit=2)
    return app, ids


def trim_active(db: Any, jobs: Any, running: int = 3, pending: int = 4) -> None:
    """Keep the newest few seeded running and pending jobs, as one busy worker would have.

    The seed spreads its active jobs over the last two hours; a panel photographed at one moment
    shows a handful. (The real runs below have the highest priority, so ``work_off(limit=2)``
    runs them and leaves the seeded pending jobs waiting.)
    """
    import sqlalchemy as sa

    job, event = jobs.Job, jobs.JobEvent
    drop: list[int] = []
    for status, keep in (("running", running), ("pending", pending)):
        ids = db.session.scalars(
            sa.select(job.id).filter_by(status=status).order_by(job.created_at.desc())
        ).all()
        drop += ids[keep:]
    db.session.execute(sa.delete(event).where(event.job_id.in_(drop)))
    db.session.execute(sa.delete(job).where(job.id.in_(drop)))
    db.session.commit()
    jobs.recount()


def shoot(app: Any, ids: dict[str, int], out: Path) -> list[Path]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    made = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport={"width": WIDTH, "height": 1000}, device_scale_factor=1
            )
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", "admin")
            page.fill("#password", "admin")
            with page.expect_navigation():
                page.click("button[type=submit]")

            page.goto(base + "/admin/jobs/")
            page.wait_for_load_state("networkidle")
            made.append(out / "jobs-list.png")
            page.screenshot(path=str(made[-1]), full_page=True)

            page.goto(base + f"/admin/jobs/details/?id={ids['export']}")
            page.wait_for_load_state("networkidle")
            made.append(out / "job-detail.png")
            page.screenshot(path=str(made[-1]), full_page=True)

            page.goto(base + f"/admin/jobs/details/?id={ids['broken']}")
            page.click("text=Stack trace")
            page.wait_for_timeout(400)
            made.append(out / "job-detail-failed.png")
            page.screenshot(path=str(made[-1]), full_page=True)
            browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    return made


def signed_in_pages(
    app: Any, widths: tuple[int, ...] = (1400, 1024), user: str = "admin"
) -> Iterator[tuple[int, str, Any]]:
    """Serve ``app`` and yield ``(width, base URL, page)`` for each width: a fresh Chromium tab
    of that width, signed in as ``user``; everything is closed when the loop ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width in widths:
                context = browser.new_context(
                    viewport={"width": width, "height": 900}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", user)
                page.fill("#password", user)
                with page.expect_navigation():
                    page.click("button[type=submit]")
                yield width, base, page
                context.close()
            browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


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
