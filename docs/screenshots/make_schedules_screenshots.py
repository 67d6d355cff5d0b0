"""Make the screenshots of the Schedules page, at 1400 and 1024 px.

``schedules-1400.png`` and ``schedules-1024.png``: the demo shop of ``make_screenshots.py`` with
a few schedules (declared in code, made in the admin, the built-in housekeeping), some of which
ran; ``schedule-edit-1400.png``: the edit form with a bad cron refused::

    python docs/screenshots/make_schedules_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_screenshots import CHROMIUM, CHROMIUM_ARGS, QuietHandler, build_app  # noqa: E402


def add_schedules(app: Any) -> None:
    from host_app.extensions import jobs
    from jobs_admin.service import create_schedule, set_schedule_enabled

    with app.app_context():
        rt = jobs.runtime()
        jobs.schedule(
            "nightly-reindex",
            "search.reindex",
            "0 3 * * *",
            timezone="Europe/Berlin",
            description="Rebuild the shop's search index",
        )
        create_schedule(
            rt,
            "weekday-flaky-report",
            "reports.flaky",
            {"cron": "30 6 * * 1-5", "timezone": "America/New_York"},
            "admin",
        )
        create_schedule(
            rt, "quarter-hour-report", "reports.broken", {"cron": "*/15 * * * *"}, "admin"
        )
        set_schedule_enabled(rt, "quarter-hour-report", False, "admin")
        jobs.run_schedule("nightly-reindex", who="admin")
        jobs.run_schedule("weekday-flaky-report", who="operator")
        jobs.work_off()


def shoot(app: Any, out: Path) -> list[Path]:
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
                    viewport={"width": width, "height": 700},
                    device_scale_factor=1,
                    timezone_id="Europe/Berlin",
                    locale="en-GB",
                )
                context.set_default_timeout(60000)
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                page.goto(base + "/admin/jobs/schedules/")
                page.wait_for_load_state("networkidle")
                made.append(out / f"schedules-{width}.png")
                page.screenshot(path=str(made[-1]), full_page=True)
                if width == 1400:
                    page.locator("a[title=Edit]").nth(1).click()
                    page.fill("#cron", "0 25 * * *")
                    page.click("#jobs-admin-schedule-form button[type=submit]")
                    page.wait_for_load_state("networkidle")
                    made.append(out / "schedule-edit-1400.png")
                    page.screenshot(path=str(made[-1]), full_page=True)
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
        app, _ids = build_app(Path(tmp))
        add_schedules(app)
        for path in shoot(app, args.out):
            print(f"wrote {path}")
        with app.app_context():
            from host_app.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
