"""The store's constants and value types, shared by the store and its callers."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..models import JobStatus

#: The PostgreSQL ``LISTEN/NOTIFY`` channel that says "a job became due": idle workers wake.
NOTIFY_CHANNEL = "jobs_admin_pending"

#: How long the record of a deleted job is kept for the live feed (its open pages drop the row;
#: a browser whose cursor is older reloads anyway). Older records go at the next delete or prune.
REMOVALS_KEPT = timedelta(hours=1)

#: Set in a session's or connection's ``info`` by a write the live feed must see; the
#: extension wakes this process's feed when that transaction commits.
CHANGED_KEY = "jobs_admin_changed"


#: What a new attempt starts from (an automatic retry or a rescue); a hand-back at shutdown
#: keeps its progress so that the job can resume where it was.
FRESH_PROGRESS: dict[str, Any] = {
    "progress_total": None,
    "progress_done": 0,
    "progress_failed": 0,
    "phase": None,
    "message": None,
}


#: The phase of a job a worker handed back at its shutdown: ``pending`` with its progress kept,
#: shown as "Paused" until a worker resumes it. No job that has not run has a phase, and every
#: other way back to ``pending`` (a retry, a rescue) clears it, so the phase marks the pause.
PAUSED = "Paused"

#: The phase a claim gives a paused job: the runner sees from it that the job resumes (and
#: a job claimed ahead and handed back unstarted keeps being a paused one).
RESUMING = "Resuming"

#: What :meth:`JobStore.claim_rows` returns of each claimed job (besides id and creator).
CLAIM_COLUMNS = (
    "type",
    "params",
    "attempts",
    "max_attempts",
    "priority",
    "run_at",
    "progress_total",
    "progress_done",
    "progress_failed",
    "cancel_requested",
    "phase",
)

#: The columns a successful end may set per job in :meth:`JobStore.finish_many` (the result,
#: the last progress).
FINISH_COLUMNS = (
    "result",
    "result_file",
    "message",
    "progress_total",
    "progress_done",
    "progress_failed",
)


@dataclass(frozen=True)
class Finish:
    """A successful end of a job, written with others by :meth:`JobStore.finish_many`.

    :param job_id: the job.
    :param status: ``completed`` or ``partial``.
    :param values: columns of :data:`FINISH_COLUMNS` to set (the result, the last progress).
    :param events: event rows (without ``job_id``) to add with it: the last log lines and the
        status event.
    :param finished_at: when the job's function returned.
    """

    job_id: int
    status: JobStatus
    values: dict[str, Any]
    events: list[dict[str, Any]]
    finished_at: datetime


def lock_key(name: str) -> int:
    """A stable 31-bit advisory-lock key for ``name`` (same in every process and machine).

    The CRC-32 of the name with its top bit cleared: never negative, so it reads the same as a
    PostgreSQL ``int`` or ``bigint`` and in ``pg_locks.objid``.
    """
    return zlib.crc32(f"jobs_admin:{name}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Moved:
    """A job a bulk statement moved: its id and who created it (for the counters)."""

    id: int
    created_by: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionResult:
    """What a bulk admin action did: the ids it acted on and those it skipped, with why."""

    done: list[int]
    skipped: dict[int, str]
