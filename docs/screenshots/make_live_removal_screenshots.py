"""Make the screenshots of a detail page whose job was deleted while it was open:
``detail-deleted-1400.png`` and ``detail-deleted-1024.png``.

Builds the demo shop on a throwaway SQLite file with a few finished demo jobs, serves it from a
thread, opens a failed job's detail page in Debian's Chromium (never ``playwright install``),
deletes the job through ``jobs.delete`` as another admin would, and photographs the page once
the live socket said so::

    python docs/screenshots/make_live_removal_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class QuietHandler(WSGIRequestHandler):
    """No access log lines."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def build_app(workdir: Path) -> tuple[Any, int]:
    """The demo shop with a failed report among a few finished jobs; its id."""
    from host_app import create_app
    from host_app.extensions import db, jobs

    app = create_app(
        {
            "SECRET_KEY": "screenshots",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'shop.sqlite'}",
            "JOBS_ADMIN_WORKER": "off",
            "JOBS_ADMIN_RESULTS_DIR": str(workdir / "results"),
            "JOBS_ADMIN_LIVE_INTERVAL": 0.2,
            "DEMO_JOB_DELAY": 0,
        }
    )
    result = app.test_cli_runner().invoke(args=["demo", "init"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        jobs.enqueue("search.reindex", name="Nightly reindex", items=3, created_by="operator")
        doomed = jobs.enqueue("reports.broken", name="VAT report", created_by="admin")
        db.session.commit()
        jobs.work_off()
        return app, int(doomed.id)


def shoot(app: Any, job_id: int, out: Path) -> list[Path]:
    from host_app.extensions import jobs

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    made: list[Path] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = []
            for width in (1400, 1024):
                context = browser.new_context(viewport={"width": width, "height": 800})
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                page.goto(base + f"/admin/jobs/details/?id={job_id}")
                expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
                pages.append((width, page))
            with app.app_context():
                jobs.delete(jobs.get(job_id))
            for width, page in pages:
                expect(page.locator(".jobs-admin-deleted")).to_be_visible()
                made.append(out / f"detail-deleted-{width}.png")
                page.screenshot(path=str(made[-1]), full_page=False)
            browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, job_id = build_app(Path(tmp))
        for path in shoot(app, job_id, args.out):
            print(path)


if __name__ == "__main__":
    main()
