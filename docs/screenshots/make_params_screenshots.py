"""Make the screenshots of a params search in the job list, at 1400 and 1024 px.

``list-params-search-{1400,1024}.png``: the demo shop of ``make_screenshots.py`` (same seed)
searched for ``params.supplier:ACME`` with the Params filter ``invalid_every:0``, all time;
``list-params-bad-term-{1400,1024}.png``: the message for a term whose quote is not closed::

    python docs/screenshots/make_params_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_screenshots import build_app, signed_in_pages  # noqa: E402


def shoot(app: Any, out: Path) -> list[Path]:
    made = []
    for width, base, page in signed_in_pages(app):
        query = (
            "search="
            + quote("params.supplier:ACME")
            + "&flt0_params_equals="
            + quote("invalid_every:0")
            + "&flt1_created_within=all"
        )
        page.goto(f"{base}/admin/jobs/?{query}")
        page.wait_for_load_state("networkidle")
        made.append(out / f"list-params-search-{width}.png")
        page.screenshot(path=str(made[-1]), full_page=False)
        page.goto(f"{base}/admin/jobs/?search=" + quote('params.supplier:"ACME'))
        page.wait_for_load_state("networkidle")
        made.append(out / f"list-params-bad-term-{width}.png")
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
