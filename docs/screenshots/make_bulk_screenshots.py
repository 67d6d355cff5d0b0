"""Make the screenshots of the list's "select all jobs matching this filter", at 1400 and
1024 px.

``list-bulk-bar-{1400,1024}.png``: the demo shop of ``make_screenshots.py`` (same seed), the
completed jobs of all time, the select-all box ticked and the whole filter selected;
``list-bulk-confirm-{1400,1024}.png``: the confirmation of "With selected" > Delete::

    python docs/screenshots/make_bulk_screenshots.py [--out docs/screenshots]
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
                    viewport={"width": width, "height": 900}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                page.goto(
                    f"{base}/admin/jobs/?flt0_status_equals=completed&flt1_created_within=all"
                )
                page.wait_for_load_state("networkidle")
                page.locator("input.action-rowtoggle").check()
                page.locator(".jobs-admin-selectall-all").click()
                made.append(out / f"list-bulk-bar-{width}.png")
                page.screenshot(path=str(made[-1]), full_page=False)
                page.get_by_role("button", name="With selected").click()
                page.get_by_role("link", name="Delete").click()
                page.locator("#jobs-admin-confirm").wait_for(state="visible")
                page.wait_for_timeout(400)  # the modal's fade
                made.append(out / f"list-bulk-confirm-{width}.png")
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
        app, _ids = build_app(Path(tmp))
        for path in shoot(app, args.out):
            print(f"wrote {path}")
        with app.app_context():
            from host_app.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
