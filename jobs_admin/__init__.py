"""jobs_admin: a background-jobs monitor for Flask-Admin."""

from __future__ import annotations

from . import errors, signals
from .context import JobContext
from .errors import (
    DuplicateJob,
    InvalidArgument,
    InvalidParams,
    InvalidSchedule,
    InvalidTransition,
    JobCancelled,
    JobNotFound,
    JobsAdminError,
    PermissionDenied,
    ScheduleNotFound,
    ScheduleProtected,
    UnknownJobType,
    WorkerError,
)
from .extension import JobsAdmin
from .models import JobStatus
from .permissions import PERMISSIONS

__all__ = [
    "PERMISSIONS",
    "DuplicateJob",
    "InvalidArgument",
    "InvalidParams",
    "InvalidSchedule",
    "InvalidTransition",
    "JobCancelled",
    "JobContext",
    "JobNotFound",
    "JobStatus",
    "JobsAdmin",
    "JobsAdminError",
    "PermissionDenied",
    "ScheduleNotFound",
    "ScheduleProtected",
    "UnknownJobType",
    "WorkerError",
    "errors",
    "signals",
]
