"""Blinker signals a host can connect to (``sender`` is the Flask app).

Each is sent with ``job=`` the :class:`~jobs_admin.models.JobMixin` row, except
``jobs_pruned`` which is sent with ``count=`` the number of deleted jobs. ``job_finished`` is
sent for every end state (completed, partial, failed, cancelled) and is where a host sends its
completion e-mails.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A job was added (sent at enqueue, before the caller commits).
job_enqueued = _signals.signal("job-enqueued")
#: A worker claimed a job and is about to run it.
job_started = _signals.signal("job-started")
#: A job reached an end state; ``job.status`` says which.
job_finished = _signals.signal("job-finished")
#: A job was deleted (the row is detached; its attributes are still readable).
job_deleted = _signals.signal("job-deleted")
#: Housekeeping or ``prune`` deleted ``count`` finished jobs.
jobs_pruned = _signals.signal("jobs-pruned")
