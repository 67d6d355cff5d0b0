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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_screenshots import build_app, signed_in_pages  # noqa: E402


def shoot(app: Any, out: Path) -> list[Path]:
    made = []
    for width, base, page in signed_in_pages(app):
        page.goto(f"{base}/admin/jobs/?flt0_status_equals=completed&flt1_created_within=all")
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
