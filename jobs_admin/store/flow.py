"""The store's flow control: job types' pauses and limits, the limited claim, worker records.

A job type with no row in ``jobs_admin_type_state`` (or a row with no pause and no limit) is
claimed by the plain claim, untouched. A worker keeps the set of restricted types in memory
(:class:`Restrictions`, refreshed every control tick) and the plain claim skips them; each
limited type is then claimed on its own by :meth:`FlowStore.claim_limited`, under a lock on
that type's row only, so limited types never serialise the claims of other types.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from ..flow_models import WORKER_RUNNING
from ..limits import parse_rate
from ..models import utcnow
from .base import Conn


@dataclass(frozen=True)
class Restrictions:
    """The job types the plain claim must skip: paused ones and limited ones."""

    paused: frozenset[str] = frozenset()
    limited: frozenset[str] = frozenset()

    @property
    def skip(self) -> frozenset[str]:
        """Every type the plain claim skips."""
        return self.paused | self.limited


@dataclass
class TypeState:
    """A job type's pause and limits in force, as the Job types page shows them."""

    type: str
    paused: bool = False
    paused_by: str | None = None
    paused_at: datetime | None = None
    max_concurrency: int | None = None
    rate_limit: str | None = None
    limits_by: str | None = None
    window_start: datetime | None = None
    window_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def window_of(now: datetime, seconds: float) -> datetime:
    """The start of the fixed rate-limit window of ``seconds`` holding ``now``."""
    epoch = now.timestamp()
    return datetime.fromtimestamp(math.floor(epoch / seconds) * seconds, UTC)


#: Seconds after which a worker that found a limited type's row locked by another worker's claim
#: tries again (rather than at its next poll).
BUSY_RETRY = 0.05


class FlowStore:
    """Mixed into :class:`~jobs_admin.store.JobStore`: the SQL of flow control."""

    jobs: sa.Table
    models: Any

    if TYPE_CHECKING:  # each backend's claim, next to this class in JobStore

        def _claim(
            self,
            conn: Conn,
            worker: str,
            limit: int,
            now: datetime,
            only: str | None = None,
            skip: Sequence[str] = (),
        ) -> list[dict[str, Any]]: ...

    @property
    def type_table(self) -> sa.Table:
        """``jobs_admin_type_state``."""
        return cast(sa.Table, self.models.TypeState.__table__)

    @property
    def worker_table(self) -> sa.Table:
        """``jobs_admin_worker``."""
        return cast(sa.Table, self.models.Worker.__table__)

    # -- type states -----------------------------------------------------------------------

    def restrictions(self, conn: Conn) -> Restrictions:
        """The paused and the limited types (one read of a table of a few rows)."""
        t = self.type_table
        rows = conn.execute(
            sa.select(t.c.type, t.c.paused, t.c.max_concurrency, t.c.rate_limit).where(
                sa.or_(
                    t.c.paused.is_(True),
                    t.c.max_concurrency.is_not(None),
                    t.c.rate_limit.is_not(None),
                )
            )
        ).all()
        return Restrictions(
            paused=frozenset(r.type for r in rows if r.paused),
            limited=frozenset(r.type for r in rows if not r.paused),
        )

    def type_states(self, conn: Conn) -> dict[str, TypeState]:
        """Every row of ``jobs_admin_type_state`` by type."""
        t = self.type_table
        return {
            row.type: TypeState(**{c.name: row._mapping[c.name] for c in t.columns})
            for row in conn.execute(sa.select(t))
        }

    def _upsert_type(self, conn: Conn, type_name: str, values: dict[str, Any]) -> None:
        t = self.type_table
        result = cast(
            sa.CursorResult[Any],
            conn.execute(sa.update(t).where(t.c.type == type_name).values(values)),
        )
        if result.rowcount:
            return
        row = {"type": type_name, "paused": False, "window_count": 0, **values}
        try:
            with self.guarded(conn):  # type: ignore[attr-defined]
                conn.execute(sa.insert(t).values(row))
        except sa.exc.IntegrityError:
            conn.execute(sa.update(t).where(t.c.type == type_name).values(values))

    def set_paused(self, conn: Conn, type_name: str, paused: bool, by: str | None) -> bool:
        """Pause or resume ``type_name``; return whether that changed anything."""
        current = self.type_states(conn).get(type_name)
        if current is not None and current.paused == paused:
            return False
        if current is None and not paused:
            return False
        self._upsert_type(
            conn,
            type_name,
            {
                "paused": paused,
                "paused_by": by if paused else None,
                "paused_at": utcnow() if paused else None,
            },
        )
        return True

    def set_limits(
        self,
        conn: Conn,
        type_name: str,
        max_concurrency: int | None,
        rate_limit: str | None,
        by: str,
    ) -> None:
        """Set the limits in force of ``type_name`` (checked by the caller) at runtime: they
        override the ones declared in code until :meth:`sync_declared` is told otherwise."""
        self._upsert_type(
            conn,
            type_name,
            {"max_concurrency": max_concurrency, "rate_limit": rate_limit, "limits_by": by},
        )

    def sync_declared(
        self, conn: Conn, declared: Iterable[tuple[str, int | None, str | None]]
    ) -> None:
        """Write the limits declared in code where no admin set others at runtime.

        :param declared: ``(type, max_concurrency, rate_limit)`` of every registered type.
        """
        states = self.type_states(conn)
        for name, concurrency, rate in declared:
            state = states.get(name)
            if state is None:
                if concurrency is not None or rate is not None:
                    self._upsert_type(
                        conn, name, {"max_concurrency": concurrency, "rate_limit": rate}
                    )
            elif state.limits_by is None and (state.max_concurrency, state.rate_limit) != (
                concurrency,
                rate,
            ):
                self._upsert_type(conn, name, {"max_concurrency": concurrency, "rate_limit": rate})

    def running_of(self, conn: Conn, types: Sequence[str]) -> dict[str, int]:
        """How many jobs of each of ``types`` run now."""
        if not types:
            return {}
        j = self.jobs
        rows = conn.execute(
            sa.select(j.c.type, sa.func.count())
            .where(j.c.status == "running", j.c.type.in_(list(types)))
            .group_by(j.c.type)
        ).all()
        return {row[0]: int(row[1]) for row in rows}

    def claim_limited(
        self, conn: Conn, worker: str, type_name: str, limit: int
    ) -> tuple[list[dict[str, Any]], str | None, float | None]:
        """Claim up to ``limit`` jobs of the limited type ``type_name`` within its limits.

        Locks that type's row for the transaction (``SKIP LOCKED``: a worker claiming it
        elsewhere right now makes this one pass), counts its running jobs and its starts in the
        rate window under that lock, and claims what the limits leave.

        :returns: the claimed rows; the limit that held jobs back (``"max_concurrency"``,
            ``"rate_limit"``, ``"paused"``, ``"busy"``) or ``None``; and in how many seconds
            another try may claim more (the row is busy: soon; the rate window is spent: when
            the next one opens), or ``None``.
        """
        t = self.type_table
        row = conn.execute(
            sa.select(t).where(t.c.type == type_name).with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return [], "busy", BUSY_RETRY
        if row.paused:
            return [], "paused", None
        now = utcnow()
        room = limit
        held: str | None = None
        if row.max_concurrency is not None:
            running = self.running_of(conn, [type_name]).get(type_name, 0)
            if row.max_concurrency - running < room:
                room, held = max(row.max_concurrency - running, 0), "max_concurrency"
        rate = parse_rate(row.rate_limit) if row.rate_limit else None
        window = row.window_start
        count = row.window_count or 0
        if rate is not None:
            start = window_of(now, rate.seconds)
            if window is None or window != start:
                window, count = start, 0
            if rate.count - count < room:
                room, held = max(rate.count - count, 0), "rate_limit"
        if room <= 0:
            retry = None
            if held == "rate_limit" and rate is not None and window is not None:
                retry = max((window - now).total_seconds() + rate.seconds, 0.0)
            return [], held, retry
        rows = self._claim(conn, worker, room, now, only=type_name)
        if rate is not None and rows:
            conn.execute(
                sa.update(t)
                .where(t.c.type == type_name)
                .values(window_start=window, window_count=count + len(rows))
            )
        return rows, held, None

    # -- worker records --------------------------------------------------------------------

    def register_worker(self, conn: Conn, **values: Any) -> None:
        """Add this worker's row (``name``, ``hostname``, ``pid``, ``threads``, ...)."""
        w = self.worker_table
        now = utcnow()
        conn.execute(sa.delete(w).where(w.c.name == values["name"]))
        conn.execute(
            sa.insert(w).values(
                state=WORKER_RUNNING,
                state_by="start",
                state_at=now,
                started_at=now,
                heartbeat_at=now,
                running=0,
                **values,
            )
        )

    def worker_beat(self, conn: Conn, name: str, running: int) -> str | None:
        """Refresh a worker's heartbeat and running count; return its requested state (``None``:
        its row is gone, e.g. removed as lost)."""
        w = self.worker_table
        result = conn.execute(
            sa.update(w)
            .where(w.c.name == name)
            .values(heartbeat_at=utcnow(), running=running)
            .returning(w.c.state)
        ).first()
        return None if result is None else str(result.state)

    def worker_state(self, conn: Conn, name: str) -> str | None:
        """The state asked of a worker (``None``: no such row)."""
        w = self.worker_table
        return cast(str | None, conn.execute(sa.select(w.c.state).where(w.c.name == name)).scalar())

    def set_worker_state(
        self, conn: Conn, name: str, state: str, by: str | None, *, only_from: Sequence[str] = ()
    ) -> bool:
        """Ask worker ``name`` to be in ``state``; False if there is no such worker (or its state
        is not one of ``only_from``)."""
        w = self.worker_table
        stmt = sa.update(w).where(w.c.name == name)
        if only_from:
            stmt = stmt.where(w.c.state.in_(list(only_from)))
        result = cast(
            sa.CursorResult[Any],
            conn.execute(stmt.values(state=state, state_by=by, state_at=utcnow())),
        )
        return bool(result.rowcount)

    def remove_worker(self, conn: Conn, name: str) -> None:
        """Delete a worker's row (at its stop)."""
        w = self.worker_table
        conn.execute(sa.delete(w).where(w.c.name == name))

    def worker_rows(self, conn: Conn) -> list[dict[str, Any]]:
        """Every worker row, by host then name."""
        w = self.worker_table
        return [
            dict(row._mapping)
            for row in conn.execute(sa.select(w).order_by(w.c.hostname, w.c.name))
        ]

    def remove_lost_workers(self, conn: Conn, stale_after: float) -> int:
        """Delete the rows of workers silent for longer than ``stale_after`` seconds."""
        w = self.worker_table
        cutoff = utcnow() - timedelta(seconds=stale_after)
        result = cast(
            sa.CursorResult[Any], conn.execute(sa.delete(w).where(w.c.heartbeat_at < cutoff))
        )
        return int(result.rowcount or 0)
