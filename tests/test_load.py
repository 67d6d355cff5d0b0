"""The load test's short run: admins clicking with their live sockets open while workers run a
steady stream of jobs, everything in real processes as docs/deploy describes (gunicorn gthread
with 2 web processes and their worker off, 2 ``flask jobs worker`` processes, Locust).

``bench/load/run.py`` starts the processes and checks the database; this runs it for 10 s with
10 admins and 100 jobs/s and asserts what must hold under load whatever the machine: no failed
request, every job ended exactly once, the counters equal a ``GROUP BY``, nothing left pending or
running, and every socket saw every job end once. Timings are the benchmark's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def loaded(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The result of one 10 s run on a fresh database (the script makes the tables and users)."""
    url = pg_server.create()
    try:
        yield _run(url, tmp_path_factory.mktemp("load"))
    finally:
        pg_server.drop(url)


def _run(url: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "result.json"
    logs = tmp_path / "logs"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load" / "run.py"),
            "--url",
            url,
            "--users",
            "10",
            "--rate",
            "100",
            "--duration",
            "10",
            "--json",
            str(out),
            "--logs",
            str(logs),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(_paths())},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    result["logs"] = {p.name: p.read_text(errors="replace")[-3000:] for p in logs.glob("*.log")}
    return result


def _paths() -> list[str]:
    return [str(ROOT), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]


def test_load_short_run_serves_every_page_without_errors(loaded: dict[str, Any]) -> None:
    pages = {p["name"]: p for p in loaded["pages"]}
    assert loaded["failures"] == [], loaded["failures"]
    web = [e for e in loaded["server_errors"] if e.startswith("web:")]
    assert web == [], (web, loaded["logs"].get("web.log"))
    # Every admin signed in, opened the list and its socket; and they clicked.
    for name in ("login", "list: sign-in", "ws connect"):
        assert pages[name]["requests"] == 10 and pages[name]["failures"] == 0, pages[name]
    assert pages["Aggregated"]["requests"] > 30


def test_load_short_run_ends_every_job_exactly_once(loaded: dict[str, Any]) -> None:
    db = loaded["database"]
    enqueued = loaded["producer"]["enqueued"]
    assert enqueued == 1000
    assert db["jobs"] == enqueued, "every enqueued job is in the table"
    assert db["ended_once"] == enqueued, (db["never_ended"], db["ended_twice"])
    assert db["not_ended"] == 0
    assert (db["running_anywhere"], db["pending_anywhere"]) == (0, 0)
    assert db["counters_match"], (db["counters"], db["group_by"])
    # The mix: failures and a retried job among them (reports.broken, reports.flaky).
    assert db["by_status"].get("failed", 0) > 0 and db["by_status"].get("completed", 0) > 0


def test_load_short_run_delivers_every_end_to_every_socket_once(loaded: dict[str, Any]) -> None:
    live = loaded["live"]
    assert live["sockets"] == 10
    assert live["resynced"] == 0
    assert (live["lost"], live["doubled"]) == (0, 0)
    assert live["ends_per_socket"] == loaded["database"]["jobs"]
