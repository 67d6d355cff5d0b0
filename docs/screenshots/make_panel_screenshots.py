"""Make the README's screenshots of issue 15: an export profile's page with its job panel
(``export-profile-panel.png``) and the "My jobs" dropdown (``my-jobs-dropdown.png``), each at
1400 px and 1024 px wide (``-1024`` in the name) in Debian's Chromium::

    python docs/screenshots/make_panel_screenshots.py [--out docs/screenshots]

The demo shop is built as by ``make_screenshots.py`` (seeded history, real runs); the export
profile "Spring catalog" then gets a finished run, a partial one and one left running.
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

GHOST = "shop-web-2:5151:shots01"


def profile_runs(app: Any) -> int:
    """Give the "Spring catalog" profile a history: completed, partial, running; its id."""
    import sqlalchemy as sa

    from host_app.extensions import db, jobs
    from host_app.models import ExportProfile

    with app.app_context():
        profile = db.session.scalar(sa.select(ExportProfile).filter_by(name="Spring catalog"))
        assert profile is not None
        ref = profile.reference
        for skus, by in ((profile.sku_list, "operator"), ([*profile.sku_list, "X-404"], "admin")):
            jobs.enqueue(
                "catalog.export",
                name="Spring catalog export",
                reference=ref,
                created_by=by,
                priority=200,
                definition=profile.definition,
                skus=skus,
            )
            db.session.commit()
            jobs.work_off(limit=1)
        running = jobs.enqueue(
            "catalog.export",
            name="Spring catalog export",
            reference=ref,
            created_by="admin",
            definition=profile.definition,
            skus=profile.sku_list,
            priority=300,
        )
        db.session.commit()
        with db.engine.begin() as conn:
            assert jobs.store.claim(conn, GHOST, 1) == [running.id]
            jobs.store.progress(
                conn,
                running.id,
                GHOST,
                {"progress_total": 6, "progress_done": 4, "phase": "Resolving images"},
            )
        return int(profile.id)


def shoot(app: Any, profile_id: int, out: Path) -> list[Path]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    made = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width, suffix in ((1400, ""), (1024, "-1024")):
                context = browser.new_context(
                    viewport={"width": width, "height": 900}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")

                page.goto(base + f"/admin/exportprofile/details/?id={profile_id}")
                page.wait_for_load_state("networkidle")
                made.append(out / f"export-profile-panel{suffix}.png")
                page.screenshot(path=str(made[-1]), full_page=True)

                page.goto(base + "/admin/")
                page.wait_for_load_state("networkidle")
                page.click("#jobs-admin-my-jobs-toggle")
                page.wait_for_selector(".jobs-admin-my-jobs-menu [data-jobs-admin-my-job]")
                page.wait_for_timeout(300)
                made.append(out / f"my-jobs-dropdown{suffix}.png")
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
        profile_id = profile_runs(app)
        for path in shoot(app, profile_id, args.out):
            print(f"wrote {path}")
        with app.app_context():
            from host_app.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
