"""Make the screenshots of the Workers and Job types pages, at 1400 and 1024 px.

``workers-1400.png``, ``workers-1024.png``, ``job-types-1400.png``, ``job-types-1024.png``: the
demo shop of ``make_screenshots.py`` with its worker running (one quiet, one lost record from
another host added), a paused type and a limited one::

    python docs/screenshots/make_flow_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_screenshots import CHROMIUM, CHROMIUM_ARGS, QuietHandler, build_app  # noqa: E402


def stage(app: Any) -> Any:
    """Start the worker, add two records of other workers, pause and limit a type."""
    import sqlalchemy as sa

    from host_app.extensions import jobs
    from jobs_admin.models import utcnow

    with app.app_context():
        worker = jobs.start_worker()
        rt = jobs.runtime()
        with rt.connections.write() as conn:
            rt.store.register_worker(
                conn, name="web-2:4121:9f3a1c", hostname="web-2", pid=4121, threads=4, embedded=True
            )
            rt.store.register_worker(
                conn, name="batch-1:877:0c2d4e", hostname="batch-1", pid=877, threads=8
            )
            w = rt.store.worker_table
            conn.execute(
                sa.update(w)
                .where(w.c.name == "batch-1:877:0c2d4e")
                .values(heartbeat_at=utcnow() - timedelta(minutes=12))
            )
        jobs.quiet("web-2:4121:9f3a1c", user=None)
        types = sorted(t.name for t in jobs.registry if not t.builtin)
        jobs.pause(types[0])
        jobs.set_limits(types[1], max_concurrency=2, rate_limit="100/m")
    return worker


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
                    viewport={"width": width, "height": 800}, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", "admin")
                page.fill("#password", "admin")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                for path, name in (
                    ("/admin/jobs/workers/", "workers"),
                    ("/admin/jobs/types/", "job-types"),
                ):
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    made.append(out / f"{name}-{width}.png")
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
        stage(app)
        try:
            for path in shoot(app, args.out):
                print(f"wrote {path}")
        finally:
            from host_app.extensions import db, jobs

            with app.app_context():
                jobs.stop_worker(wait=False)
                db.engine.dispose()


if __name__ == "__main__":
    main()
