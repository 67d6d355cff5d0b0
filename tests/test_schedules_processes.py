"""Schedules fired by real ``flask jobs worker`` processes: exactly once per tick with four
processes, none lost or doubled when processes are killed mid-tick, catch-up after a downtime.

A tick is made due by writing the schedules' rows: a cron that matches one past minute only
(``M H D Mo *``) and ``next_run_at`` at that minute, so a test needs no wall-clock minutes; the
processes then race to fire it as they would at a real tick. The database of the ``app`` fixture
(SQLite, or PostgreSQL in the PostgreSQL pass).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from host_app.extensions import db, jobs
from jobs_admin.service import create_schedule, find_schedule, schedule_history
from tests.test_scaleout import Workers, _markers, _setup_markers

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _forget_declared() -> Iterator[None]:
    before = dict(jobs.registry.schedules)
    yield
    jobs.registry.schedules.clear()
    jobs.registry.schedules.update(before)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    """``workers(url, **config)``: ``flask jobs worker`` processes, killed at the end."""
    made: list[Workers] = []

    def factory(url: str, **config: str | int) -> Workers:
        made.append(Workers(url, tmp_path, **config))
        return made[-1]

    yield factory
    for w in made:
        w.stop_all(signal.SIGKILL, timeout=5)


def _url() -> str:
    return db.engine.url.render_as_string(hide_password=False)


def _make(n: int, prefix: str = "s") -> list[int]:
    rt = jobs.runtime()
    ids = []
    for i in range(n):
        row = create_schedule(rt, f"{prefix}{i:04d}", "scale.marker", {"cron": "0 0 1 1 *"}, "test")
        ids.append(row["id"])
    return ids


def _due_at(tick: datetime, ids: list[int] | None = None) -> None:
    """Make ``tick`` (a past minute) the due tick of the schedules ``ids`` (default: all)."""
    s = jobs.runtime().models.Schedule.__table__
    stmt = sa.update(s).values(
        cron=f"{tick.minute} {tick.hour} {tick.day} {tick.month} *",
        timezone="UTC",
        next_run_at=tick,
        skip_if_running=False,
    )
    if ids is not None:
        stmt = stmt.where(s.c.id.in_(ids))
    with db.engine.begin() as conn:
        conn.execute(stmt)


def _fired(tick: datetime) -> int:
    j = jobs.Job
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    j.scheduled_for == tick, j.schedule_id.is_not(None)
                )
            ).scalar()
            or 0
        )


def _wait(predicate: Callable[[], bool], procs: Workers, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} not reached after {timeout} s\n{procs.output()}")


def _settled(n: int) -> bool:
    counts = jobs.counts()
    return counts["total"] == n and counts["pending"] == 0 and counts["running"] == 0


def _check_once_per_tick(ids: list[int], ticks: list[datetime]) -> None:
    j = jobs.Job
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(j.id, j.schedule_id, j.scheduled_for, j.status)).all()
    per = Counter((r.schedule_id, r.scheduled_for) for r in rows)
    want = {(i, t) for i in ids for t in ticks}
    assert set(per) == want, "every tick of every schedule fired, and nothing else"
    assert max(per.values()) == 1, "no tick fired twice"
    assert {r.status for r in rows} == {"completed"}
    marks = Counter(job_id for job_id, _a, _p in _markers())
    assert set(marks) == {r.id for r in rows} and max(marks.values()) == 1
    with db.engine.connect() as conn:
        real = dict(conn.execute(sa.select(j.status, sa.func.count()).group_by(j.status)).all())
    counts = jobs.counts()
    assert {k: v for k, v in counts.items() if v and k != "total"} == real


def _minute(minutes_ago: int) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=minutes_ago)


def test_four_processes_fire_50_schedules_3_ticks_exactly_once(
    app: Flask, workers: Callable[..., Workers]
) -> None:
    with app.app_context():
        _setup_markers()
        ids = _make(50)
        procs = workers(_url())
        for _ in range(4):
            procs.start(concurrency=3)
        ticks = [_minute(10 - k) for k in range(3)]
        for k, tick in enumerate(ticks):
            _due_at(tick)
            _wait(lambda t=tick: _fired(t) == 50, procs, 60, f"50 jobs of tick {k}")
            _wait(lambda k=k: _settled(50 * (k + 1)), procs, 60, f"jobs of tick {k} done")
        time.sleep(1.5)  # a late duplicate would show now
        assert procs.stop_all() == [0, 0, 0, 0], procs.output()
        _check_once_per_tick(ids, ticks)
        rows = [find_schedule(jobs.runtime(), i) for i in ids]
        assert {r["last_scheduled_for"] for r in rows} == {ticks[-1]}
        assert {r["next_run_at"].year for r in rows} == {ticks[-1].year + 1}


def test_killed_processes_lose_no_tick_and_double_none(
    app: Flask, workers: Callable[..., Workers]
) -> None:
    rnd = random.Random(5)
    with app.app_context():
        _setup_markers()
        ids = _make(200, prefix="k")
        procs = workers(_url())
        for _ in range(3):
            procs.start(concurrency=3)
        time.sleep(3)  # the processes are up and polling
        ticks = [_minute(20 - k) for k in range(4)]
        for k, tick in enumerate(ticks):
            _due_at(tick)
            time.sleep(rnd.uniform(0.0, 0.4))
            victim = rnd.choice(procs.alive())
            victim.send_signal(signal.SIGKILL)
            procs.start(concurrency=3)
            _wait(lambda t=tick: _fired(t) == 200, procs, 120, f"200 jobs of tick {k}")
        _wait(lambda: _settled(800), procs, 180, "all jobs done")
        time.sleep(1.5)
        procs.stop_all()
        _check_once_per_tick(ids, ticks)


def test_catch_up_after_a_downtime_fires_young_ticks_once_and_skips_old_ones(
    app: Flask, workers: Callable[..., Workers]
) -> None:
    with app.app_context():
        _setup_markers()
        young, old = _make(2, prefix="c")
        young_tick, old_tick = _minute(30), _minute(120)
        _due_at(young_tick, [young])
        _due_at(old_tick, [old])
        procs = workers(_url(), SCHEDULE_CATCHUP=3600)
        procs.start(concurrency=2)
        rt = jobs.runtime()
        _wait(
            lambda: find_schedule(rt, old)["next_run_at"] > datetime.now(UTC),
            procs,
            60,
            "the old tick handled",
        )
        _wait(lambda: _settled(1), procs, 60, "the young tick's job done")
        time.sleep(1.5)
        procs.stop_all()
        _check_once_per_tick([young], [young_tick])
        (skip,) = [e for e in schedule_history(rt, old) if e["kind"] == "skipped"]
        assert skip["data"]["reason"] == "missed" and skip["data"]["count"] is None
        assert find_schedule(rt, old)["last_job_id"] is None
