"""A job's events (log lines, steps, failed items, audit trail), as the store writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import EventKind, utcnow

Conn = Session | Connection


class EventsMixin:
    """The store's event writes and reads over its ``events`` table."""

    events: sa.Table

    def count_events(self, conn: Conn, job_id: int, kind: str) -> int:
        """How many events of ``kind`` the job has (served by the events' job index)."""
        e = self.events.c
        stmt = sa.select(sa.func.count()).where(e.job_id == job_id, e.kind == kind)
        return int(conn.execute(stmt).scalar() or 0)

    def add_events(self, conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
        """Insert event rows (dicts with job_id, kind, message, and optionally level, data, at)."""
        if not rows:
            return
        now = utcnow()
        conn.execute(
            sa.insert(self.events),
            [
                {
                    "job_id": r["job_id"],
                    "kind": r["kind"],
                    "level": r.get("level", "info"),
                    "message": r.get("message"),
                    "data": r.get("data"),
                    "at": r.get("at", now),
                }
                for r in rows
            ],
        )

    def event(
        self,
        conn: Conn,
        job_id: int,
        kind: EventKind,
        message: str,
        *,
        level: str = "info",
        data: Any = None,
    ) -> None:
        """Insert one event."""
        self.add_events(
            conn,
            [
                {
                    "job_id": job_id,
                    "kind": kind.value,
                    "message": message,
                    "level": level,
                    "data": data,
                }
            ],
        )

    def of_attempt(self, attempt: int) -> sa.ColumnElement[bool]:
        """Events recorded during ``attempt`` (events without an attempt count for any)."""
        recorded = self.events.c.data["attempt"].as_integer()
        return sa.or_(recorded.is_(None), recorded == attempt)
