"""Firing schedules: each tick adds one job, whatever the number of processes firing.

Every process that runs the worker calls :func:`fire_due` when a tick is due. One transaction per
batch of due schedules: pick them (locked, see :mod:`jobs_admin.store.schedules`), add each
one's job with ``(schedule_id, scheduled_for)`` (a second insert of a tick is a no-op), move
``next_run_at`` on, record the skipped ticks. A process killed mid-way rolls the whole batch
back, and the next process to look fires it: no tick lost, none doubled.

Missed ticks (no worker ran): only the latest tick is fired, and only if it is younger than
``JOBS_ADMIN_SCHEDULE_CATCHUP`` seconds; the older ones are recorded as one ``skipped`` event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from .. import cron
from ..errors import InvalidParams, InvalidSchedule, UnknownJobType
from ..models import utcnow
from ..runtime import Runtime
from ..store import schedules as sql
from ._schedule_reads import find_schedule
from ._schedules import _event

log = logging.getLogger("jobs_admin.schedules")

#: Schedules fired per transaction.
FIRE_BATCH = 100


def reference(name: str, tick: datetime | None) -> str:
    """The ``reference`` of a job a schedule fired (searchable in the list)."""
    if tick is None:
        return f"schedule {name} (run now)"[:200]
    return f"schedule {name} {tick:%Y-%m-%d %H:%M} UTC"[:200]


def _job_values(
    rt: Runtime, row: dict[str, Any], tick: datetime | None, who: str | None
) -> dict[str, Any]:
    job_type = rt.registry.get(row["type"])
    params = job_type.validate(row["params"] or {}, rt.settings.max_params_bytes)
    return {
        "type": job_type.name,
        "name": job_type.title,
        "reference": reference(row["name"], tick),
        "params": params,
        "priority": 0,
        "max_attempts": job_type.max_attempts,
        "created_by": who,
        "updated_by": who,
        "schedule_id": row["id"],
        "scheduled_for": tick,
    }


def fire_due(rt: Runtime, now: datetime | None = None, batch: int = FIRE_BATCH) -> int:
    """Fire every schedule whose tick is due, in batches; return how many jobs were added.

    :param rt: the app's runtime.
    :param now: the time to fire up to (default: now; tests pass one).
    :param batch: schedules per transaction.
    """
    added = 0
    while True:
        n, seen = _fire_batch(rt, now or utcnow(), batch)
        added += n
        if seen < batch:
            return added


def _fire_batch(rt: Runtime, now: datetime, batch: int) -> tuple[int, int]:
    catchup = timedelta(seconds=rt.settings.schedule_catchup)
    store = rt.store
    with rt.connections.write() as conn:
        rows = sql.due(store, conn, now, batch)
        if not rows:
            return 0, 0
        active = sql.active_jobs(store, conn, [r["last_job_id"] for r in rows])
        events: list[dict[str, Any]] = []
        fires: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            name, due = row["name"], row["next_run_at"]
            try:
                parsed = cron.parse(row["cron"])
                recent = cron.ticks_between(parsed, row["timezone"], max(due, now - catchup), now)
                if due >= now - catchup:
                    recent.insert(0, due)
                nxt = cron.next_after(parsed, row["timezone"], now)
            except InvalidSchedule as exc:  # a row edited by hand: stop it, say why
                events.append(_event(row["id"], name, "disabled", None, f"bad schedule: {exc}"))
                sql.update_schedule(store, conn, row["id"], enabled=False, next_run_at=None)
                continue
            tick = recent[-1] if recent else None
            update = {
                "sid": row["id"],
                "next_run_at": nxt,
                "last_scheduled_for": row["last_scheduled_for"],
                "last_job_id": row["last_job_id"],
            }
            updates.append(update)
            if tick is None or tick > due:
                events.append(_missed(row, due, recent, due >= now - catchup))
            if tick is None:
                continue
            if row["skip_if_running"] and row["last_job_id"] in active:
                events.append(
                    _event(
                        row["id"],
                        name,
                        "skipped",
                        None,
                        f"tick {tick:%Y-%m-%d %H:%M} UTC skipped: job"
                        f" {row['last_job_id']} is still pending or running",
                        {"reason": "running", "tick": tick.isoformat()},
                    )
                )
                continue
            try:
                fires.append(_job_values(rt, row, tick, None))
            except (UnknownJobType, InvalidParams) as exc:
                events.append(
                    _event(
                        row["id"],
                        name,
                        "skipped",
                        None,
                        f"tick {tick:%Y-%m-%d %H:%M} UTC not fired: {exc}",
                        {"reason": "error", "tick": tick.isoformat()},
                    )
                )
                continue
            update["last_scheduled_for"] = tick
        ids = sql.add_jobs(store, conn, fires)
        for update in updates:
            update["last_job_id"] = ids.get(update["sid"], update["last_job_id"])
        sql.update_many(store, conn, updates)
        sql.add_events(store, conn, events)
    added = len(ids)
    if added:
        rt.wake_worker()
        rt.wake_live()
    return added, len(rows)


def _missed(row: dict[str, Any], due: datetime, recent: list[datetime], young: bool) -> Any:
    """The "skipped" event of the ticks from ``due`` on that no worker fired in time (all but
    the last of ``recent``, and those before the catch-up window unless ``young``)."""
    until = recent[-2] if len(recent) > 1 else None
    return _event(
        row["id"],
        row["name"],
        "skipped",
        None,
        f"missed while no worker ran: the ticks from {due:%Y-%m-%d %H:%M} UTC"
        + (f" to {until:%Y-%m-%d %H:%M} UTC" if until is not None else "")
        + ("" if young else " (older than the catch-up window)"),
        {"reason": "missed", "first": due.isoformat(), "count": len(recent) - 1 if young else None},
    )


def run_now(rt: Runtime, name: str, who: str | None) -> Any:
    """Add a job of the schedule now (``scheduled_for`` ``NULL``: it takes no tick's place).

    :raises ScheduleNotFound: no such schedule.
    :raises UnknownJobType: its type is not registered here.
    :raises InvalidParams: its params no longer validate.
    :returns: the new job's id.
    """
    row = find_schedule(rt, name)
    values = _job_values(rt, row, None, who)
    with rt.connections.write() as conn:
        job_id = sql.add_jobs(rt.store, conn, [values])[row["id"]]
        sql.update_schedule(rt.store, conn, row["id"], last_job_id=job_id)
        sql.add_events(
            rt.store, conn, [_event(row["id"], name, "run_now", who, f"ran now: job {job_id}")]
        )
    rt.wake_worker()
    rt.wake_live()
    return job_id


def next_due(rt: Runtime) -> datetime | None:
    """The earliest tick due among the enabled schedules."""
    with rt.engine.connect() as conn:
        return sql.next_due(rt.store, conn)
