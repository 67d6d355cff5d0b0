"""Schedules: cron in a zone (DST in Europe/Berlin), declared vs admin values, firing once per
tick, skip_if_running, catch-up, audit events (in one process; see test_schedules_processes.py
for real worker processes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import cron
from jobs_admin.errors import InvalidParams, InvalidSchedule, ScheduleProtected
from jobs_admin.service import (
    create_schedule,
    delete_schedule,
    find_schedule,
    schedule_history,
    update_schedule,
)
from tests.support import Probe

BERLIN = "Europe/Berlin"


@pytest.fixture(autouse=True)
def _forget_declared(jobs: Any) -> Iterator[None]:
    """The demo's registry is shared by every test: drop what a test declared."""
    before = dict(jobs.registry.schedules)
    yield
    jobs.registry.schedules.clear()
    jobs.registry.schedules.update(before)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _local(t: datetime, tz: str = BERLIN) -> str:
    return t.astimezone(cron.zone(tz)).strftime("%m-%d %H:%M %Z")


def _ticks(expr: str, start: datetime, n: int, tz: str = BERLIN) -> list[str]:
    out, t = [], start
    for _ in range(n):
        nxt = cron.next_after(expr, tz, t)
        assert nxt is not None
        out.append(_local(nxt, tz))
        t = nxt
    return out


# -- cron ------------------------------------------------------------------------------------


def test_cron_spring_forward_fixed_time_fires_once_at_the_end_of_the_gap() -> None:
    # Europe/Berlin 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    assert _ticks("30 2 * * *", _utc(2026, 3, 27, 12), 3) == [
        "03-28 02:30 CET",
        "03-29 03:00 CEST",
        "03-30 02:30 CEST",
    ]


def test_cron_spring_forward_wildcard_skips_the_missing_hour() -> None:
    assert _ticks("*/30 * * * *", _utc(2026, 3, 29, 0, 0), 4) == [
        "03-29 01:30 CET",
        "03-29 03:00 CEST",
        "03-29 03:30 CEST",
        "03-29 04:00 CEST",
    ]


def test_cron_fall_back_fixed_time_fires_once_wildcard_twice() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happen twice.
    assert _ticks("30 2 * * *", _utc(2026, 10, 23, 12), 3) == [
        "10-24 02:30 CEST",
        "10-25 02:30 CEST",
        "10-26 02:30 CET",
    ]
    assert _ticks("*/30 2 * * *", _utc(2026, 10, 24, 23, 0), 4) == [
        "10-25 02:00 CEST",
        "10-25 02:30 CEST",
        "10-25 02:00 CET",
        "10-25 02:30 CET",
    ]
    assert _ticks("0 * * * *", _utc(2026, 10, 24, 23, 30), 3) == [
        "10-25 02:00 CEST",
        "10-25 02:00 CET",
        "10-25 03:00 CET",
    ]


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("0 3 * * *", "At 03:00, every day"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 9-17 * * mon-fri", "At minute 0, hour 9 through 17, on Monday through Friday"),
        ("0 0 * * 7", "At 00:00, on Sunday"),
        ("30 4 1 jan *", "At 04:30, on day 1 of the month, in January"),
    ],
)
def test_cron_describe_reads_plain_english(expr: str, text: str) -> None:
    assert cron.describe(expr) == text


@pytest.mark.parametrize(
    "expr", ["0 3 * *", "60 * * * *", "0 24 * * *", "0 0 30 2 *", "x * * * *", "*/0 * * * *", ""]
)
def test_cron_parse_refuses_bad_expressions(expr: str) -> None:
    with pytest.raises(InvalidSchedule):
        cron.parse(expr)


def test_cron_zone_refuses_unknown_names() -> None:
    for name in ("Mars/Olympus", "", "../etc/passwd", "europe/berlin"):
        with pytest.raises(InvalidSchedule):
            cron.zone(name)
    assert cron.zone(BERLIN).key == BERLIN


# -- declared in code ------------------------------------------------------------------------


def test_schedule_declared_in_code_is_stored_and_admin_edits_win(app: Flask, jobs: Any) -> None:
    jobs.schedule("nightly", "test.echo", "0 3 * * *", timezone=BERLIN, params={"a": 1})
    row = find_schedule(jobs.runtime(), "nightly")
    assert (row["origin"], row["cron"], row["timezone"], row["params"]) == (
        "code",
        "0 3 * * *",
        BERLIN,
        {"a": 1},
    )
    assert _local(row["next_run_at"]).split()[1] == "03:00"
    rt = jobs.runtime()
    update_schedule(rt, "nightly", {"cron": "0 4 * * *"}, "admin")
    jobs.disable_schedule("nightly", who="admin")
    # The code changes cron and params: the admin's cron and switch stay, the params follow.
    jobs.schedule("nightly", "test.echo", "0 5 * * *", timezone=BERLIN, params={"a": 2})
    row = find_schedule(rt, "nightly")
    assert (row["cron"], row["params"], row["enabled"]) == ("0 4 * * *", {"a": 2}, False)
    assert row["edited"] == ["cron"]
    kinds = [(e["kind"], e["who"]) for e in schedule_history(rt, row["id"])]
    assert kinds == [
        ("updated", None),
        ("disabled", "admin"),
        ("updated", "admin"),
        ("created", None),
    ]
    with pytest.raises(ScheduleProtected):
        delete_schedule(rt, "nightly", "admin")


def test_job_type_schedule_shorthand(app: Flask, jobs: Any) -> None:
    @jobs.job_type("test.nightly_short", schedule="15 2 * * 0")
    def nightly(ctx: Any) -> None:
        pass

    row = find_schedule(jobs.runtime(), "test.nightly_short")
    assert (row["type"], row["cron"], row["timezone"]) == (
        "test.nightly_short",
        "15 2 * * 0",
        "UTC",
    )
    assert row["next_run_at"].strftime("%A %H:%M") == "Sunday 02:15"


def test_schedule_declaration_refuses_bad_values(app: Flask, jobs: Any) -> None:
    for args, kwargs in [
        (("bad", "test.echo", "0 3 * *"), {}),
        (("bad", "test.echo", "0 3 * * *"), {"timezone": "Nowhere/City"}),
        (("jobs_admin.mine", "test.echo", "0 3 * * *"), {}),
        ((" lead", "test.echo", "0 3 * * *"), {}),
    ]:
        with pytest.raises(InvalidSchedule):
            jobs.schedule(*args, **kwargs)
    assert "bad" not in jobs.registry.schedules


# -- admin changes ---------------------------------------------------------------------------


def test_admin_schedule_bad_input_changes_nothing(app: Flask, jobs: Any) -> None:
    rt = jobs.runtime()
    create_schedule(rt, "mine", "test.items", {"cron": "0 6 * * *", "params": {"count": 3}}, "a")
    before = find_schedule(rt, "mine")
    for values, error in [
        ({"cron": "61 * * * *"}, InvalidSchedule),
        ({"timezone": "Moon/Base"}, InvalidSchedule),
        ({"params": {"count": "many"}}, InvalidParams),
        ({"cron": "0 7 * * *", "timezone": "Bad/Zone"}, InvalidSchedule),
    ]:
        with pytest.raises(error):
            update_schedule(rt, "mine", values, "a")
        assert find_schedule(rt, "mine") == before
    with pytest.raises(InvalidSchedule):
        create_schedule(rt, "mine", "test.items", {"cron": "0 6 * * *"}, "a")  # name taken
    with pytest.raises(InvalidSchedule):
        create_schedule(rt, "other", "jobs_admin.prune", {"cron": "0 6 * * *"}, "a")
    assert len(schedule_history(rt, before["id"])) == 1
    delete_schedule(rt, "mine", "a")
    assert [s["name"] for s in jobs.schedules()] == ["jobs_admin.housekeeping"]
    assert [e["kind"] for e in schedule_history(rt, before["id"])] == ["deleted", "created"]


# -- firing ----------------------------------------------------------------------------------


def _due(jobs: Any, name: str) -> datetime:
    due: datetime = find_schedule(jobs.runtime(), name)["next_run_at"]
    return due


def _skips(rt: Any, name: str) -> list[dict[str, Any]]:
    history = schedule_history(rt, find_schedule(rt, name)["id"])
    return [e for e in history if e["kind"] == "skipped"]


def test_fire_adds_one_job_per_tick_and_counters_stay_right(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    jobs.schedule("every", "test.noop", "* * * * *", skip_if_running=False)
    tick = _due(jobs, "every")
    assert jobs.fire_schedules(now=tick + timedelta(seconds=1)) == 1
    assert jobs.fire_schedules(now=tick + timedelta(seconds=2)) == 0  # the same tick again
    # Another process fired this tick already: the row is back in the past, the insert is a
    # no-op, and nothing is counted for it.
    rt = jobs.runtime()
    s = rt.models.Schedule.__table__
    with rt.engine.begin() as conn:
        conn.execute(sa.update(s).where(s.c.name == "every").values(next_run_at=tick))
    assert jobs.fire_schedules(now=tick + timedelta(seconds=3)) == 0
    (job,) = probe.jobs(type="test.noop")
    assert job["scheduled_for"] == tick and job["reference"].startswith("schedule every ")
    assert jobs.counts() == probe.group_by_status()
    assert [e["message"] for e in probe.events(job["id"])] == ["enqueued"]
    row = find_schedule(rt, "every")
    assert row["last_job_id"] == job["id"] and row["next_run_at"] == tick + timedelta(minutes=1)


def test_skip_if_running_skips_and_records_it(app: Flask, jobs: Any, probe: Probe) -> None:
    jobs.schedule("busy", "test.noop", "* * * * *")
    jobs.schedule("eager", "test.noop", "* * * * *", skip_if_running=False)
    tick = _due(jobs, "busy")
    assert jobs.fire_schedules(now=tick + timedelta(seconds=1)) == 2
    assert jobs.fire_schedules(now=tick + timedelta(minutes=1, seconds=1)) == 1  # eager only
    rt = jobs.runtime()
    (skip,) = _skips(rt, "busy")
    assert skip["data"]["reason"] == "running"
    jobs.work_off()
    assert jobs.fire_schedules(now=tick + timedelta(minutes=2, seconds=1)) == 2
    assert jobs.counts() == probe.group_by_status()


@pytest.mark.app_config(JOBS_ADMIN_SCHEDULE_CATCHUP=3600)
def test_catch_up_fires_the_latest_missed_tick_once_if_young_enough(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    jobs.schedule("minutely", "test.noop", "* * * * *", skip_if_running=False)
    jobs.schedule("daily", "test.marker", "0 3 * * *", skip_if_running=False)
    first = _due(jobs, "minutely")
    daily = _due(jobs, "daily")
    # No worker for 40 minutes: the minutely one fires its latest tick once.
    now = first + timedelta(minutes=40, seconds=5)
    assert jobs.fire_schedules(now=now) == 1
    (job,) = probe.jobs(type="test.noop")
    assert job["scheduled_for"] == first + timedelta(minutes=40)
    rt = jobs.runtime()
    (skip,) = _skips(rt, "minutely")
    assert skip["data"] == {"reason": "missed", "first": first.isoformat(), "count": 40}
    # The daily one, two hours late: too old, skipped and recorded; next run tomorrow.
    assert jobs.fire_schedules(now=daily + timedelta(hours=2)) == 1  # (the minutely one)
    assert probe.jobs(type="test.marker") == []
    row = find_schedule(rt, "daily")
    assert row["next_run_at"] == daily + timedelta(days=1)
    (skip,) = _skips(rt, "daily")
    assert skip["data"]["count"] is None


def test_run_now_adds_a_job_outside_the_ticks(app: Flask, jobs: Any, probe: Probe) -> None:
    jobs.schedule("manual", "test.echo", "0 3 * * *", params={"x": 1})
    job_id = jobs.run_schedule("manual", who="operator")
    job = probe.job(job_id)
    assert job is not None
    assert (job["scheduled_for"], job["created_by"], job["params"]) == (None, "operator", {"x": 1})
    assert jobs.run_schedule("manual", who="operator") != job_id  # twice is fine
    rt = jobs.runtime()
    kinds = [e["kind"] for e in schedule_history(rt, find_schedule(rt, "manual")["id"])]
    assert kinds[:2] == ["run_now", "run_now"]
    assert jobs.counts() == probe.group_by_status()


def test_disabled_schedule_does_not_fire_and_enabling_counts_from_now(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    jobs.schedule("off", "test.noop", "* * * * *", enabled=False)
    row = find_schedule(jobs.runtime(), "off")
    assert row["next_run_at"] is None
    assert jobs.fire_schedules(now=datetime.now(UTC) + timedelta(hours=1)) == 0
    row = jobs.enable_schedule("off", who="admin")
    assert datetime.now(UTC) < row["next_run_at"] <= datetime.now(UTC) + timedelta(minutes=1)


# -- CLI -------------------------------------------------------------------------------------


def test_cli_schedules_table_and_run_enable_disable(app: Flask, jobs: Any, probe: Probe) -> None:
    jobs.schedule("nightly", "test.noop", "0 3 * * *", timezone=BERLIN)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["jobs", "schedules"]).output
    assert "nightly" in out and "At 03:00, every day" in out and "jobs_admin.housekeeping" in out
    result = runner.invoke(args=["jobs", "schedule", "run", "nightly"])
    assert result.exit_code == 0, result.output
    (job,) = probe.jobs(type="test.noop")
    assert job["created_by"].startswith("cli")
    assert runner.invoke(args=["jobs", "schedule", "disable", "nightly"]).exit_code == 0
    assert not find_schedule(jobs.runtime(), "nightly")["enabled"]
    assert " off " in runner.invoke(args=["jobs", "schedules"]).output
    result = runner.invoke(args=["jobs", "schedule", "enable", "nightly"])
    assert result.exit_code == 0 and "next run" in result.output
    missing = runner.invoke(args=["jobs", "schedule", "run", "nope"])
    assert missing.exit_code != 0 and "no schedule 'nope'" in missing.output
    rt = jobs.runtime()
    kinds = [(e["kind"], (e["who"] or "")[:3]) for e in schedule_history(rt, job["schedule_id"])]
    assert kinds[:3] == [("enabled", "cli"), ("disabled", "cli"), ("run_now", "cli")]


def test_a_bad_declaration_does_not_keep_the_others_from_firing(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    # Declared outside an app context (as at import time) with a type nobody registered.
    jobs.registry.schedules["ghost"] = _spec("ghost")
    jobs.schedule("good", "test.noop", "* * * * *")
    # Inside an app context the bad one is refused at once and not kept.
    with pytest.raises(InvalidSchedule):
        jobs.schedule("ghost2", "no.such.type", "* * * * *")
    assert "ghost2" not in jobs.registry.schedules
    names = [s["name"] for s in jobs.schedules()]
    assert "good" in names and "ghost" not in names
    tick = _due(jobs, "good")
    assert jobs.fire_schedules(now=tick + timedelta(seconds=1)) == 1


def _spec(name: str) -> Any:
    from jobs_admin.service import schedule_spec

    return schedule_spec(name, "no.such.type", "* * * * *")
