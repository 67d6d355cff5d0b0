"""Job statuses, the moves between them, their badges, and the kinds of a job's events and items."""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    """The status of a job; the database holds the lowercase value."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        """Whether the job is pending or running."""
        return self in ACTIVE

    @property
    def is_finished(self) -> bool:
        """Whether the job reached an end state (and so may be deleted or pruned)."""
        return self in FINISHED

    @property
    def badge(self) -> str:
        """The Bootstrap 4 badge class of this status."""
        return BADGES[self]


ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
FINISHED = frozenset(
    {JobStatus.COMPLETED, JobStatus.PARTIAL, JobStatus.FAILED, JobStatus.CANCELLED}
)
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELLED})

BADGES = {
    JobStatus.PENDING: "badge-warning",
    JobStatus.RUNNING: "badge-primary",
    JobStatus.COMPLETED: "badge-success",
    JobStatus.PARTIAL: "badge-outline-warning",
    JobStatus.FAILED: "badge-danger",
    JobStatus.CANCELLED: "badge-secondary",
}

#: Every status change the status machine allows; the store (:mod:`jobs_admin.store`) enforces it.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.COMPLETED,
            JobStatus.PARTIAL,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.PENDING,
        }
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.PARTIAL: frozenset({JobStatus.PENDING}),
    JobStatus.FAILED: frozenset({JobStatus.PENDING}),
    JobStatus.CANCELLED: frozenset({JobStatus.PENDING}),
}


class EventKind(enum.StrEnum):
    """What a :class:`JobEvent` records."""

    STATUS = "status"
    STEP = "step"
    LOG = "log"
    ITEM_FAILED = "item_failed"
    ACTION = "action"


class ItemOutcome(enum.StrEnum):
    """How one recorded item of a job ended (``JobItem.outcome``)."""

    OK = "ok"
    FAILED = "failed"


#: The event kind a job's context buffers a recorded item as; the store writes such events to
#: ``jobs_admin_job_item``, never to the events table.
ITEM_EVENT = "item"
