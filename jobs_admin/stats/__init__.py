"""Rollups of job ends (``jobs_admin_stat``), the charts read from them, and Prometheus metrics.

What a rollup counts: every *end* of a job, that is every move into ``completed``, ``partial``,
``failed`` or ``cancelled``, in the bucket of the minute the job ended (its ``finished_at``), by
job type and end status, with the run time (``finished_at - started_at``) and the wait
(``started_at - run_at``) summed and counted in fixed histogram buckets. Ends are written in the
same transaction as the move (the status machine, the worker's group commit), and are never
taken back: a manual retry that reopens a job leaves its earlier end counted (the job's next end
is counted too), and deleting or pruning jobs leaves their ends counted, so history outlives the
jobs. Each end is counted in its minute, hour and day rows and in the all-time totals; each chart
range reads one of them. Housekeeping drops minute rows after two days, hour rows after 32 days
and day rows after ``JOBS_ADMIN_STATS_RETENTION_DAYS``; ``flask jobs restat`` rebuilds the
rollups from the jobs still stored (one end per finished job: its last).
"""

from __future__ import annotations

from .model import BOUNDS, SPANS, define_stat_table

__all__ = ["BOUNDS", "SPANS", "define_stat_table"]
