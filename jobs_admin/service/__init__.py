"""What jobs_admin does, as functions of an app's :class:`~jobs_admin.runtime.Runtime`.

The :class:`~jobs_admin.JobsAdmin` facade, the admin views and the CLI call these; the runner,
the worker and the live feed get the runtime itself.
"""

from __future__ import annotations

from ._actions import (
    cancel,
    delete,
    get,
    job_id_of,
    recount,
    require,
    retry,
    retry_failed_items,
)
from ._bulk import ACTIONS as BULK_ACTIONS
from ._bulk import BULK_TYPE, count_and_max, count_matching, matching, run_bulk, start_bulk
from ._enqueue import WAKE_KEY, check_label, enqueue
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

__all__ = [
    "BULK_ACTIONS",
    "BULK_TYPE",
    "WAKE_KEY",
    "cancel",
    "check_label",
    "count_and_max",
    "count_matching",
    "count_prunable",
    "delete",
    "enqueue",
    "ensure_worker",
    "get",
    "job_id_of",
    "live_feed",
    "load_user",
    "matching",
    "prune",
    "recount",
    "requester_id",
    "require",
    "rescue",
    "retry",
    "retry_failed_items",
    "run_bulk",
    "start_bulk",
    "start_worker",
    "stop_live",
    "stop_worker",
    "work_off",
]
