"""Schedules as records: declared in code, stored by name, edited by admins, audited.

Which wins when code and the admin disagree (the README says the same):

- ``type`` and where it comes from: always the code's (an admin cannot change a code schedule's
  type; a name the code declares becomes a code schedule even if an admin created it first).
- ``cron``, ``timezone``, ``params``, ``skip_if_running``, ``description``: the code's, until an
  admin edits the field; from then on the admin's (the field is listed in ``edited``).
- ``enabled``: the code's value only when the row is first stored; afterwards the admin's switch.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import cron
from ..errors import InvalidParams, InvalidSchedule, ScheduleNotFound, ScheduleProtected
from ..models import utcnow
from ..registry import BUILTIN_PREFIX
from ..runtime import Runtime
from ..store import schedules as sql
from ._schedule_reads import find_schedule

log = logging.getLogger("jobs_admin.schedules")

#: The built-in schedule that fires ``jobs_admin.prune`` (``JOBS_ADMIN_HOUSEKEEPING_CRON``).
HOUSEKEEPING = f"{BUILTIN_PREFIX}housekeeping"

#: Fields an admin may edit (and the code updates until the admin did).
EDITABLE = ("cron", "timezone", "params", "skip_if_running", "description")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\- ]{0,99}$")

#: ``rt``'s attribute holding whether this process stored the declared schedules already.
_SYNCED = "_jobs_admin_schedules_synced"


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule declared in code (``jobs.schedule``) or built in."""

    name: str
    type: str
    cron: str
    timezone: str = "UTC"
    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    skip_if_running: bool = True
    description: str | None = None
    origin: str = "code"


def check_name(name: Any, *, builtin: bool = False) -> str:
    """Refuse a schedule name that is empty, too long, oddly written or reserved.

    :raises InvalidSchedule: why it cannot be used.
    """
    if not isinstance(name, str) or not _NAME.match(name) or name != name.strip():
        raise InvalidSchedule(
            "a schedule name is 1-100 letters, digits, spaces and . _ - : (not starting"
            f" with a space or punctuation), not {name!r}"
        )
    if name.startswith(BUILTIN_PREFIX) != builtin:
        raise InvalidSchedule(f"schedule names starting with {BUILTIN_PREFIX!r} are reserved")
    return name


def spec(
    name: str,
    type: str,
    cron_expr: str,
    *,
    timezone: str = "UTC",
    params: dict[str, Any] | None = None,
    enabled: bool = True,
    skip_if_running: bool = True,
    description: str | None = None,
    origin: str = "code",
) -> ScheduleSpec:
    """A checked :class:`ScheduleSpec` (cron, zone and name; the params when stored).

    :raises InvalidSchedule: a bad name, cron expression or time zone.
    """
    check_name(name, builtin=origin == "builtin")
    parsed = cron.parse(cron_expr)
    cron.zone(timezone)
    return ScheduleSpec(
        name=name,
        type=type,
        cron=parsed.expr,
        timezone=timezone,
        params=dict(params or {}),
        enabled=bool(enabled),
        skip_if_running=bool(skip_if_running),
        description=description,
        origin=origin,
    )


def declared(rt: Runtime) -> list[ScheduleSpec]:
    """The schedules of the code and the built-in housekeeping (when configured)."""
    specs: list[ScheduleSpec] = list(rt.registry.schedules.values())
    if rt.settings.housekeeping_cron:
        specs.append(
            spec(
                HOUSEKEEPING,
                f"{BUILTIN_PREFIX}prune",
                rt.settings.housekeeping_cron,
                description="Deletes finished jobs past the retention period"
                " (JOBS_ADMIN_RETENTION_DAYS).",
                origin="builtin",
            )
        )
    return specs


def next_tick(cron_expr: str, timezone: str, after: datetime | None = None) -> datetime | None:
    """The first tick of ``cron_expr`` in ``timezone`` after ``after`` (default: now)."""
    return cron.next_after(cron_expr, timezone, after or utcnow())


def _params(rt: Runtime, type_name: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        job_type = rt.registry.get(type_name)
    except LookupError:
        raise InvalidSchedule(f"no job type {type_name!r} is registered") from None
    return job_type.validate(params, rt.settings.max_params_bytes)


def sync(rt: Runtime, *, force: bool = False, strict: str | None = None) -> int:
    """Store the declared schedules (upsert by name, see the module's rules); once per process
    unless ``force``. A declaration that cannot be stored is logged and skipped, unless it is
    the one named ``strict``, whose error is raised.

    :returns: how many rows were added or changed.
    """
    if getattr(rt, _SYNCED, False) and not force:
        return 0
    changed = 0
    s = sql.schedules_table(rt.store)
    with rt.connections.write() as conn:
        for d in declared(rt):
            try:
                params = _params(rt, d.type, d.params)
            except (InvalidSchedule, InvalidParams) as exc:
                if d.name == strict:
                    raise
                # One bad declaration must not keep the others from being stored and fired.
                log.error("jobs_admin schedule %r not stored: %s", d.name, exc)
                continue
            row = conn.execute(sa.select(s).where(s.c.name == d.name)).mappings().first()
            now = utcnow()
            if row is None:
                # Processes starting together race here: the loser's insert is a no-op.
                added = conn.execute(
                    sql.insert_or_skip(rt.store, ["name"]).values(
                        name=d.name,
                        type=d.type,
                        cron=d.cron,
                        timezone=d.timezone,
                        params=params,
                        enabled=d.enabled,
                        skip_if_running=d.skip_if_running,
                        description=d.description,
                        origin=d.origin,
                        edited=[],
                        next_run_at=next_tick(d.cron, d.timezone) if d.enabled else None,
                        created_at=now,
                        updated_at=now,
                        updated_by=None,
                    )
                )
                if not added.rowcount:
                    continue
                new_id = conn.execute(sa.select(s.c.id).where(s.c.name == d.name)).scalar_one()
                sql.add_events(
                    rt.store,
                    conn,
                    [_event(new_id, d.name, "created", None, f"declared in {d.origin}", d.cron)],
                )
                changed += 1
                continue
            edited = set(row["edited"] or [])
            wanted: dict[str, Any] = {
                "cron": d.cron,
                "timezone": d.timezone,
                "params": params,
                "skip_if_running": d.skip_if_running,
                "description": d.description,
            }
            values = {k: v for k, v in wanted.items() if k not in edited and row[k] != v}
            if row["type"] != d.type:
                values["type"] = d.type
            if row["origin"] != d.origin:
                values["origin"] = d.origin
            if not values:
                continue
            if row["enabled"] and ("cron" in values or "timezone" in values):
                values["next_run_at"] = next_tick(
                    values.get("cron", row["cron"]), values.get("timezone", row["timezone"])
                )
            sql.update_schedule(rt.store, conn, row["id"], updated_at=now, **values)
            shown = {k: v for k, v in values.items() if k != "next_run_at"}
            sql.add_events(
                rt.store,
                conn,
                [_event(row["id"], d.name, "updated", None, "changed in code", shown)],
            )
            changed += 1
    setattr(rt, _SYNCED, True)
    return changed


def _event(
    schedule_id: int, name: str, kind: str, who: str | None, message: str, data: Any = None
) -> dict[str, Any]:
    return {
        "schedule_id": schedule_id,
        "schedule_name": name,
        "kind": kind,
        "who": who,
        "message": message,
        "data": data,
    }


# -- admin changes -------------------------------------------------------------------------


def _checked(rt: Runtime, type_name: str, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "cron" in values:
        out["cron"] = cron.parse(values["cron"] or "").expr
    if "timezone" in values:
        cron.zone(values["timezone"])
        out["timezone"] = values["timezone"]
    if "params" in values:
        out["params"] = _params(rt, type_name, dict(values["params"] or {}))
    if "skip_if_running" in values:
        out["skip_if_running"] = bool(values["skip_if_running"])
    if "description" in values:
        out["description"] = values["description"] or None
    return out


def create_schedule(
    rt: Runtime, name: str, type_name: str, values: dict[str, Any], who: str | None
) -> dict[str, Any]:
    """Store a new admin schedule.

    :raises InvalidSchedule: bad name, cron or zone, or the name is taken.
    :raises InvalidParams: params the type refuses.
    """
    check_name(name)
    if type_name.startswith(BUILTIN_PREFIX):
        raise InvalidSchedule("built-in job types cannot be scheduled from the admin")
    try:
        find_schedule(rt, name)
    except ScheduleNotFound:
        pass
    else:
        raise InvalidSchedule(f"a schedule called {name!r} exists already")
    checked = _checked(rt, type_name, {"params": {}, "timezone": "UTC", **values})
    if "cron" not in checked:
        raise InvalidSchedule("a schedule needs a cron expression")
    s = sql.schedules_table(rt.store)
    now = utcnow()
    with rt.connections.write() as conn:
        if conn.execute(sa.select(s.c.id).where(s.c.name == name)).first() is not None:
            raise InvalidSchedule(f"a schedule called {name!r} exists already")
        conn.execute(
            sa.insert(s).values(
                name=name,
                type=type_name,
                enabled=True,
                skip_if_running=checked.pop("skip_if_running", True),
                origin="admin",
                edited=[],
                next_run_at=next_tick(checked["cron"], checked["timezone"]),
                created_at=now,
                updated_at=now,
                updated_by=who,
                **checked,
            )
        )
        new_id = conn.execute(sa.select(s.c.id).where(s.c.name == name)).scalar_one()
        shown = {"type": type_name, **checked}
        sql.add_events(rt.store, conn, [_event(new_id, name, "created", who, "created", shown)])
    return find_schedule(rt, name)


def update_schedule(
    rt: Runtime, name: str, values: dict[str, Any], who: str | None
) -> dict[str, Any]:
    """Change a schedule's editable fields (see :data:`EDITABLE`); the new cron or zone takes
    effect from now.

    :raises ScheduleNotFound: no such schedule.
    :raises InvalidSchedule: a bad cron or zone (nothing is saved).
    :raises InvalidParams: params the type refuses (nothing is saved).
    """
    row = find_schedule(rt, name)
    checked = _checked(rt, row["type"], {k: v for k, v in values.items() if k in EDITABLE})
    changes = {k: v for k, v in checked.items() if row[k] != v}
    if not changes:
        return row
    extra: dict[str, Any] = {}
    if row["origin"] != "admin":
        extra["edited"] = sorted(set(row["edited"] or []) | set(changes))
    if row["enabled"] and ("cron" in changes or "timezone" in changes):
        extra["next_run_at"] = next_tick(
            changes.get("cron", row["cron"]), changes.get("timezone", row["timezone"])
        )
    with rt.connections.write() as conn:
        sql.update_schedule(
            rt.store, conn, row["id"], updated_at=utcnow(), updated_by=who, **changes, **extra
        )
        before = {k: row[k] for k in changes}
        data = {"before": before, "after": changes}
        sql.add_events(rt.store, conn, [_event(row["id"], name, "updated", who, "edited", data)])
    return find_schedule(rt, name)


def set_schedule_enabled(rt: Runtime, name: str, enabled: bool, who: str | None) -> dict[str, Any]:
    """Enable (its next tick counted from now) or disable a schedule.

    :raises ScheduleNotFound: no such schedule.
    """
    row = find_schedule(rt, name)
    if bool(row["enabled"]) == enabled:
        return row
    nxt = next_tick(row["cron"], row["timezone"]) if enabled else None
    kind = "enabled" if enabled else "disabled"
    with rt.connections.write() as conn:
        sql.update_schedule(
            rt.store,
            conn,
            row["id"],
            enabled=enabled,
            next_run_at=nxt,
            updated_at=utcnow(),
            updated_by=who,
        )
        sql.add_events(rt.store, conn, [_event(row["id"], name, kind, who, kind)])
    return find_schedule(rt, name)


def delete_schedule(rt: Runtime, name: str, who: str | None) -> None:
    """Delete an admin schedule (its jobs and audit trail stay).

    :raises ScheduleNotFound: no such schedule.
    :raises ScheduleProtected: a built-in or code-declared schedule.
    """
    row = find_schedule(rt, name)
    if row["origin"] != "admin" or name in rt.registry.schedules:
        raise ScheduleProtected(
            f"{name!r} is declared in {row['origin']}: it can be disabled, not deleted"
        )
    s = sql.schedules_table(rt.store)
    with rt.connections.write() as conn:
        conn.execute(sa.delete(s).where(s.c.id == row["id"]))
        sql.add_events(rt.store, conn, [_event(row["id"], name, "deleted", who, "deleted")])
