"""Make the screenshots of the Insights and Failures pages, at 1400 and 1024 px.

The demo shop of ``make_screenshots.py`` (same seed, same real runs: ``flask demo seed`` rebuilds
the rollups of its seeded history with ``jobs.restat()``), plus three more failures of one
cause so that the Failures page shows a group of several jobs. ``insights-24h-<width>.png``
and ``failures-<width>.png``; ``insights-7d-dark.png`` is the same page in the dark swatch::

    python docs/screenshots/make_insights_screenshots.py [--out docs/screenshots]
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


def add_failures(app: Any) -> None:
    """Three more failures of ``reports.broken`` (one group of several jobs), via real runs."""
    from host_app.extensions import db, jobs

    with app.app_context():
        for quarter in ("Q1", "Q2", "Q4"):
            jobs.enqueue("reports.broken", name=f"VAT report 2026 {quarter}", created_by="operator")
        db.session.commit()
        jobs.work_off()


def login(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "admin")
    page.fill("#password", "admin")
    with page.expect_navigation():
        page.click("button[type=submit]")


def shoot(app: Any, out: Path, dark_app: Any) -> list[Path]:
    made = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for the_app, widths, ranges, dark in (
            (app, (1400, 1024), ("24h",), False),
            (dark_app, (1400,), ("7d",), True),
        ):
            server = make_server(
                "127.0.0.1", 0, the_app, threaded=True, request_handler=QuietHandler
            )
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            base = f"http://127.0.0.1:{server.server_port}"
            try:
                for width in widths:
                    context = browser.new_context(
                        viewport={"width": width, "height": 900}, device_scale_factor=1
                    )
                    page = context.new_page()
                    login(page, base)
                    for rng in ranges:
                        page.goto(base + f"/admin/jobs/insights/?range={rng}")
                        page.wait_for_selector("#jobs-admin-chart-ends canvas")
                        page.wait_for_timeout(300)
                        # Hover the newest interval with ends: the legend shows its values.
                        page.evaluate(
                            """() => {
                              const c = window.jobsAdminInsights, d = c.data();
                              let i = d.times.length - 1;
                              while (i > 0 && !Object.values(d.counts).some(s => s[i])) { i--; }
                              c.ends.setCursor({left: c.ends.valToPos(d.times[i], "x"), top: 150});
                              c.rate.setCursor({left: c.rate.valToPos(d.times[i], "x"), top: 50});
                            }"""
                        )
                        suffix = "dark" if dark else str(width)
                        made.append(out / f"insights-{rng}-{suffix}.png")
                        page.screenshot(path=str(made[-1]), full_page=True)
                    if not dark:
                        page.goto(base + "/admin/jobs/failures/")
                        first = page.locator("details").first
                        if first.count():
                            first.locator("summary").click()
                        made.append(out / f"failures-{width}.png")
                        page.screenshot(path=str(made[-1]), full_page=False)
                    context.close()
            finally:
                server.shutdown()
                thread.join(timeout=10)
                server.server_close()
        browser.close()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNG files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jobs-admin-shots-") as tmp:
        app, _ids = build_app(Path(tmp))
        add_failures(app)
        # The same database under the dark swatch (Bootswatch "darkly").
        from host_app import create_app

        dark = create_app(
            {
                **{
                    k: app.config[k]
                    for k in (
                        "SECRET_KEY",
                        "SQLALCHEMY_DATABASE_URI",
                        "JOBS_ADMIN_WORKER",
                        "JOBS_ADMIN_RESULTS_DIR",
                    )
                },
                "ADMIN_SWATCH": "darkly",
            }
        )
        for path in shoot(app, args.out, dark):
            print(f"wrote {path}")
        with app.app_context():
            from host_app.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
