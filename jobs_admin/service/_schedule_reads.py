"""Reading schedules: every one with its last job's status, one by name or id, its audit trail."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..errors import ScheduleNotFound
from ..runtime import Runtime
from ..store import schedules as sql


def all_schedules(rt: Runtime) -> list[dict[str, Any]]:
    """Every schedule with its last job's status (``last_status``), by name."""
    s, j = sql.schedules_table(rt.store), rt.store.jobs
    stmt = (
        sa.select(s, j.c.status.label("last_status"))
        .select_from(s.outerjoin(j, j.c.id == s.c.last_job_id))
        .order_by(s.c.name)
    )
    with rt.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def find_schedule(rt: Runtime, name: str | int) -> dict[str, Any]:
    """The schedule called ``name`` (or with that id).

    :raises ScheduleNotFound: none.
    """
    s = sql.schedules_table(rt.store)
    cond = s.c.id == name if isinstance(name, int) else s.c.name == name
    with rt.engine.connect() as conn:
        row = conn.execute(sa.select(s).where(cond)).mappings().first()
    if row is None:
        raise ScheduleNotFound(f"no schedule {name!r}")
    return dict(row)


def schedule_history(rt: Runtime, schedule_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The schedule's audit events, newest first."""
    e: sa.Table = rt.models.ScheduleEvent.__table__
    stmt = sa.select(e).where(e.c.schedule_id == schedule_id).order_by(e.c.id.desc()).limit(limit)
    with rt.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]
