"""Make the screenshots of the job list and a failed job's detail page in German, at 1400 and
1024 px (``list-de-<width>.png``, ``detail-de-<width>.png``), chosen from the demo's language
menu on the demo shop of ``make_screenshots.py``::

    python docs/screenshots/make_german_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_screenshots import build_app, signed_in_pages  # noqa: E402


def shoot(app: Any, out: Path) -> list[Path]:
    made = []
    for width, base, page in signed_in_pages(app):
        page.goto(base + "/admin/jobs/")
        page.click("#shop-language button")
        with page.expect_navigation():
            page.click("#shop-language a[lang=de]")
        page.wait_for_load_state("networkidle")
        made.append(out / f"list-de-{width}.png")
        page.screenshot(path=str(made[-1]), full_page=False)
        page.goto(base + "/admin/jobs/?flt0_status_equals=failed")
        with page.expect_navigation():
            page.locator("a[data-jobs-admin-job]").first.click()
        page.wait_for_load_state("networkidle")
        made.append(out / f"detail-de-{width}.png")
        page.screenshot(path=str(made[-1]), full_page=False)
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
