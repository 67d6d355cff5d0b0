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
from ._enqueue import WAKE_KEY, check_label, enqueue
from ._failures import failure_groups, newest_id, run_failure_group
from ._insights import insights
from ._prune import count_prunable, prune
from ._running import (
    ensure_worker,
    live_feed,
    rescue,
    start_worker,
    stop_live,
    stop_worker,
    work_off,
)

__all__ = [
    "WAKE_KEY",
    "cancel",
    "check_label",
    "count_prunable",
    "delete",
    "enqueue",
    "ensure_worker",
    "failure_groups",
    "fold_stats",
    "get",
    "insights",
    "job_id_of",
    "live_feed",
    "newest_id",
    "prune",
    "recount",
    "require",
    "rescue",
    "restat",
    "retry",
    "retry_failed_items",
    "run_failure_group",
    "start_worker",
    "stop_live",
    "stop_worker",
    "work_off",
]
