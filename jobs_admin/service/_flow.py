"""Flow control: pause and resume job types, set their limits, see and steer the workers.

Each function checks nothing about the user (the admin views do), commits its own work, and
logs what it did on the ``jobs_admin.audit`` logger; the rows keep who asked (``paused_by``,
``limits_by``, ``state_by``).
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..errors import N_, UnknownWorker
from ..flow_models import WORKER_QUIET, WORKER_RUNNING, WORKER_STOPPING
from ..limits import check_concurrency, normal_rate
from ..models import utcnow
from ..runtime import Runtime
from ..store.base import Conn
from ..store.flow import Restrictions, TypeState

audit = logging.getLogger("jobs_admin.audit")

#: The phases a pending job held back by flow control shows (never stored: computed from the
#: type's state when the list and the detail page are drawn). English here (the API's
#: :meth:`held_phases`); the pages show them through :func:`held_label`.
HELD_PHASES = {
    "paused": N_("Paused"),
    "max_concurrency": N_("Waiting: max concurrency %(max_concurrency)s"),
    "rate_limit": N_("Waiting: rate limit %(rate_limit)s"),
}

#: Each held phase's message as a pattern that reads its values back from the English phase.
_HELD_PATTERNS = [
    (message, re.compile(re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.+)", re.escape(message))))
    for message in HELD_PHASES.values()
]


def held_label(phase: str) -> str:
    """A held phase (English, as :func:`held_phases` gives it) in the request's language:
    "Waiting: max concurrency 2" -> "Wartet: maximale Parallelität 2".

    :param phase: a value of :func:`held_phases`; any other text comes back as it is.
    """
    from ..i18n import gettext

    for message, pattern in _HELD_PATTERNS:
        match = pattern.fullmatch(phase)
        if match is not None:
            return gettext(message, **match.groupdict())
    return phase


# -- job types -------------------------------------------------------------------------------


def pause(rt: Runtime, type_name: str, who: str | None) -> bool:
    """Pause ``type_name``: no worker claims its jobs from the next claim on (every process
    sees it within its control tick); running jobs finish. Survives restarts.

    :returns: whether it was not paused before.
    :raises UnknownJobType: no such registered type.
    """
    rt.registry.get(type_name)
    with rt.connections.write() as conn:
        changed = rt.store.set_paused(conn, type_name, True, who)
    if changed:
        audit.info("job type %s paused by %s", type_name, who)
    return changed


def resume(rt: Runtime, type_name: str, who: str | None) -> bool:
    """Resume a paused ``type_name``; return whether it was paused.

    :raises UnknownJobType: no such registered type.
    """
    rt.registry.get(type_name)
    with rt.connections.write() as conn:
        changed = rt.store.set_paused(conn, type_name, False, who)
        rt.store.notify_pending(conn)
    if changed:
        audit.info("job type %s resumed by %s", type_name, who)
        rt.wake_worker()
    return changed


def set_limits(
    rt: Runtime,
    type_name: str,
    who: str | None,
    max_concurrency: int | str | None = None,
    rate_limit: str | None = None,
) -> tuple[int | None, str | None]:
    """Set the limits in force of ``type_name`` at runtime (``None``: no limit); they override
    those declared in code, in every process, and survive restarts.

    :returns: the limits as stored (``rate_limit`` written the canonical way).
    :raises UnknownJobType: no such registered type.
    :raises InvalidLimit: a limit is malformed; nothing changed.
    """
    rt.registry.get(type_name)
    concurrency = check_concurrency(max_concurrency)
    rate = normal_rate(rate_limit)
    with rt.connections.write() as conn:
        rt.store.set_limits(conn, type_name, concurrency, rate, who or "api")
        rt.store.notify_pending(conn)
    audit.info(
        "job type %s limits set by %s: max_concurrency=%s rate_limit=%s",
        type_name,
        who,
        concurrency,
        rate,
    )
    rt.wake_worker()
    return concurrency, rate


def sync_declared(rt: Runtime) -> None:
    """Write the limits the registered types declare in code (unless set at runtime)."""
    declared = [(t.name, t.max_concurrency, t.rate_limit) for t in rt.registry]
    with rt.connections.write() as conn:
        rt.store.sync_declared(conn, declared)


@dataclass
class TypeRow:
    """A line of the Job types page."""

    name: str
    title: str
    pending: int
    running: int
    failed_24h: int
    state: TypeState


def type_rows(rt: Runtime) -> list[TypeRow]:
    """Every registered type with its pending, running and failed-in-24-h counts, pause and
    limits (three grouped reads whatever the number of types)."""
    j = rt.Job.__table__
    since = utcnow() - timedelta(hours=24)
    with rt.engine.connect() as conn:
        states = rt.store.type_states(conn)
        active = conn.execute(
            sa.select(j.c.type, j.c.status, sa.func.count())
            .where(j.c.status.in_(("pending", "running")))
            .group_by(j.c.type, j.c.status)
        ).all()
        failed = conn.execute(
            sa.select(j.c.type, sa.func.count())
            .where(j.c.finished_at >= since, j.c.status == "failed")
            .group_by(j.c.type)
        ).all()
    counts = {(t, s): int(n) for t, s, n in active}
    fails = {t: int(n) for t, n in failed}
    return [
        TypeRow(
            name=t.name,
            title=t.title,
            pending=counts.get((t.name, "pending"), 0),
            running=counts.get((t.name, "running"), 0),
            failed_24h=fails.get(t.name, 0),
            state=states.get(t.name) or TypeState(t.name),
        )
        for t in sorted(rt.registry, key=lambda t: t.name)
    ]


def held_phases(rt: Runtime, types: set[str] | None = None) -> dict[str, str]:
    """The phase pending jobs of each of ``types`` (default: all) show while flow control
    holds them back: paused, or a limit reached now. Types missing from the answer are not
    held back."""
    if types is not None and not types:
        return {}
    with rt.engine.connect() as conn:
        states = {
            k: v for k, v in rt.store.type_states(conn).items() if types is None or k in types
        }
        limited = [k for k, v in states.items() if v.max_concurrency is not None]
        running = rt.store.running_of(conn, limited)
    now = utcnow()
    phases: dict[str, str] = {}
    for name, state in states.items():
        if state.paused:
            phases[name] = HELD_PHASES["paused"]
        elif state.max_concurrency is not None and running.get(name, 0) >= state.max_concurrency:
            phases[name] = HELD_PHASES["max_concurrency"] % {
                "max_concurrency": state.max_concurrency
            }
        elif state.rate_limit and _rate_spent(state, now):
            phases[name] = HELD_PHASES["rate_limit"] % {"rate_limit": state.rate_limit}
    return phases


def _rate_spent(state: TypeState, now: datetime) -> bool:
    from ..limits import parse_rate
    from ..store.flow import window_of

    rate = parse_rate(state.rate_limit)
    if rate is None or state.window_start is None:
        return False
    return state.window_start == window_of(now, rate.seconds) and state.window_count >= rate.count


# -- the claim -------------------------------------------------------------------------------


def claim(
    rt: Runtime, conn: Conn, worker: str, limit: int, free: int, restrictions: Restrictions
) -> list[dict[str, Any]]:
    """:func:`claim_within_limits`, the claimed rows only."""
    return claim_within_limits(rt, conn, worker, limit, free, restrictions)[0]


def claim_within_limits(
    rt: Runtime, conn: Conn, worker: str, limit: int, free: int, restrictions: Restrictions
) -> tuple[list[dict[str, Any]], float | None]:
    """Claim up to ``limit`` jobs for ``worker`` in ``conn``'s transaction, within the pauses
    and limits: each limited type first (at most ``free`` jobs, for threads free now, so a
    limited job starts when it is counted), then the plain claim of every other type.

    With no paused or limited type this is exactly the plain claim of before.

    :returns: the claimed rows, and in how many seconds a limited type held back may have
        room again (a rate window opens, another worker's claim of it ends), or ``None``.
    """
    store = rt.store
    rows: list[dict[str, Any]] = []
    retry: float | None = None
    limited = list(restrictions.limited)
    random.shuffle(limited)  # no limited type always goes last
    for type_name in limited:
        if free <= 0 or len(rows) >= limit:
            break
        got, _held, again = store.claim_limited(
            conn, worker, type_name, min(free, limit - len(rows))
        )
        if again is not None:
            retry = again if retry is None else min(retry, again)
        rows += got
        free -= len(got)
    if len(rows) < limit:
        rows += store.claim_rows(conn, worker, limit - len(rows), skip=restrictions.skip)
    rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
    return rows, retry


def restrictions(rt: Runtime) -> Restrictions:
    """The paused and limited types now (one small read)."""
    with rt.engine.connect() as conn:
        return rt.store.restrictions(conn)


# -- workers ---------------------------------------------------------------------------------


@dataclass
class WorkerRow:
    """A line of the Workers page: a worker's record, its age and the jobs it runs."""

    name: str
    hostname: str
    pid: int
    version: str | None
    embedded: bool
    threads: int
    state: str
    state_by: str | None
    state_at: datetime | None
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age: float
    lost: bool
    jobs: list[int] = field(default_factory=list)
    running: int = 0


def workers(rt: Runtime) -> list[WorkerRow]:
    """Every recorded worker, lost ones included (silent for over ``JOBS_ADMIN_STALE_AFTER``),
    with the ids of the jobs it runs now."""
    j = rt.Job.__table__
    now = utcnow()
    with rt.engine.connect() as conn:
        rows = rt.store.worker_rows(conn)
        names = [r["name"] for r in rows]
        running = conn.execute(
            sa.select(j.c.worker, j.c.id)
            .where(j.c.status == "running", j.c.worker.in_(names))
            .order_by(j.c.id)
        ).all()
    by_worker: dict[str, list[int]] = {}
    for name, job_id in running:
        by_worker.setdefault(name, []).append(int(job_id))
    out = []
    for r in rows:
        age = (now - r["heartbeat_at"]).total_seconds()
        ids = by_worker.get(r["name"], [])
        r = {k: v for k, v in r.items() if k != "running"}
        out.append(
            WorkerRow(
                **r,
                heartbeat_age=max(age, 0.0),
                lost=age > rt.settings.stale_after,
                jobs=ids,
                running=len(ids),
            )
        )
    return out


def _ask(rt: Runtime, name: str, state: str, who: str | None, only_from: tuple[str, ...]) -> bool:
    with rt.connections.write() as conn:
        if rt.store.worker_state(conn, name) is None:
            raise UnknownWorker(name)
        changed = rt.store.set_worker_state(conn, name, state, who, only_from=only_from)
    if changed:
        audit.info("worker %s asked to be %s by %s", name, state, who)
    return changed


def quiet(rt: Runtime, name: str, who: str | None) -> bool:
    """Ask worker ``name`` to stop claiming jobs and finish its running ones (within 2 s).

    :returns: whether it was running (not already quiet or stopping).
    :raises UnknownWorker: no such worker record.
    """
    return _ask(rt, name, WORKER_QUIET, who, (WORKER_RUNNING,))


def unquiet(rt: Runtime, name: str, who: str | None) -> bool:
    """Ask a quiet worker ``name`` to claim jobs again; return whether it was quiet.

    :raises UnknownWorker: no such worker record.
    """
    return _ask(rt, name, WORKER_RUNNING, who, (WORKER_QUIET,))


def stop(rt: Runtime, name: str, who: str | None) -> bool:
    """Ask worker ``name`` to stop gracefully (hand cancellable jobs back, wait for the others
    up to ``JOBS_ADMIN_SHUTDOWN_GRACE``, then exit; an embedded worker stops its scheduler and
    the web process goes on serving). Return whether it was not stopping already.

    :raises UnknownWorker: no such worker record.
    """
    return _ask(rt, name, WORKER_STOPPING, who, (WORKER_RUNNING, WORKER_QUIET))


def remove_lost_workers(rt: Runtime) -> int:
    """Delete the records of workers silent for longer than ``JOBS_ADMIN_STALE_AFTER``."""
    with rt.connections.write() as conn:
        return rt.store.remove_lost_workers(conn, rt.settings.stale_after)
