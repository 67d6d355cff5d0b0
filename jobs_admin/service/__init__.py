"""What jobs_admin does, as functions of an app's :class:`~jobs_admin.runtime.Runtime`.

The :class:`~jobs_admin.JobsAdmin` facade, the admin views and the CLI call these; the runner,
the worker and the live feed get the runtime itself.
"""

from __future__ import annotations

from ._actions import (
    cancel,
    delete,
    fold_stats,
    get,
    job_id_of,
    recount,
    require,
    restat,
    retry,
    retry_failed_items,
)
from ._bulk import ACTIONS as BULK_ACTIONS
from ._bulk import BULK_TYPE, count_and_max, count_matching, matching, run_bulk, start_bulk
from ._enqueue import WAKE_KEY, check_label, enqueue
from ._failures import failure_groups, newest_id, run_failure_group
from ._firing import fire_due, run_now
from ._firing import next_due as next_schedule_due
from ._insights import insights
from ._prune import count_prunable, prune
from ._requester import load_user, requester_id
from ._running import (
    ensure_worker,
    live_feed,
    rescue,
    start_worker,
    stop_live,
    stop_worker,
    work_off,
)
from ._schedule_reads import all_schedules, find_schedule, schedule_history
from ._schedules import (
    HOUSEKEEPING,
    ScheduleSpec,
    create_schedule,
    delete_schedule,
    set_schedule_enabled,
    update_schedule,
)
from ._schedules import spec as schedule_spec
from ._schedules import sync as sync_schedules

__all__ = [
    "BULK_ACTIONS",
    "BULK_TYPE",
    "HOUSEKEEPING",
    "WAKE_KEY",
    "ScheduleSpec",
    "all_schedules",
    "cancel",
    "check_label",
    "count_and_max",
    "count_matching",
    "count_prunable",
    "create_schedule",
    "delete",
    "delete_schedule",
    "enqueue",
    "ensure_worker",
    "failure_groups",
    "find_schedule",
    "fire_due",
    "fold_stats",
    "get",
    "insights",
    "job_id_of",
    "live_feed",
    "load_user",
    "matching",
    "newest_id",
    "next_schedule_due",
    "prune",
    "recount",
    "requester_id",
    "require",
    "rescue",
    "restat",
    "retry",
    "retry_failed_items",
    "run_bulk",
    "run_failure_group",
    "run_now",
    "schedule_history",
    "schedule_spec",
    "set_schedule_enabled",
    "start_bulk",
    "start_worker",
    "stop_live",
    "stop_worker",
    "sync_schedules",
    "update_schedule",
    "work_off",
]
