"""Make the screenshots of the job list with its optional columns, at 1400 and 1024 px.

``list-optional-columns-1400.png`` and ``list-optional-columns-1024.png``: the demo shop of
``make_screenshots.py`` (same seed, same real runs) with every optional column chosen in the
"Columns" menu; at 1024 px the columns that leave no room are dropped, optional ones first.
``--extra`` also writes the collapsed filter bar with its chips and the "Clear old jobs" dialog::

    python docs/screenshots/make_list_screenshots.py [--out docs/screenshots] [--extra]
"""

from __future__ import annotations

import argparse
import json
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

ALL_COLUMNS = [
    "message",
    "started_at",
    "updated_at",
    "updated_by",
    "percent",
    "items",
    "attempts",
    "priority",
    "worker",
]


def shoot(app: Any, out: Path, extra: bool) -> list[Path]:
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
                    viewport={"width": width, "height": 900}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                page.evaluate(
                    "cols => localStorage.setItem('jobs_admin.columns', cols)",
                    json.dumps(ALL_COLUMNS),
                )
                page.goto(base + "/admin/jobs/")
                page.wait_for_load_state("networkidle")
                # The menu open: it says which chosen columns had no room at this width.
                page.click("#jobs-admin-columns")
                made.append(out / f"list-optional-columns-{width}.png")
                page.screenshot(path=str(made[-1]), full_page=False)
                page.keyboard.press("Escape")
                if extra:
                    page.click("#jobs-admin-filters-toggle")
                    page.goto(base + "/admin/jobs/?flt0_status_equals=failed&search=export")
                    made.append(out / f"list-filters-collapsed-{width}.png")
                    page.screenshot(path=str(made[-1]), full_page=False)
                    page.evaluate("localStorage.clear()")
                    page.goto(base + "/admin/jobs/")
                    page.click("#jobs-admin-prune-open")
                    page.wait_for_selector("#jobs-admin-prune-count[data-count]")
                    page.wait_for_timeout(500)  # the dialog's fade-in
                    made.append(out / f"list-clear-old-jobs-{width}.png")
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
    parser.add_argument("--extra", action="store_true", help="also the chips and the dialog")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jobs-admin-shots-") as tmp:
        app, _ids = build_app(Path(tmp))
        for path in shoot(app, args.out, args.extra):
            print(f"wrote {path}")
        with app.app_context():
            from host_app.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
