"""The Locust load test at full size, for ``make bench``: ``bench/load/run.py --report``.

50 admins and 500 jobs/s for 60 s on a copy of the 1,000,000-job PostgreSQL history; see
``bench/load/run.py`` for what runs and what is checked, and ``docs/benchmarks.md`` ("Load
test") for the figures. Arguments are passed on (``--users 10 --duration 20``, say).
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    script = Path(__file__).resolve().parent / "load" / "run.py"
    sys.argv = [str(script), "--report", *sys.argv[1:]]
    runpy.run_path(str(script), run_name="__main__")
