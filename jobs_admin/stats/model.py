"""The ``jobs_admin_stat`` table: per-interval rollups of job ends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

#: The table's name.
STAT_TABLE = "jobs_admin_stat"

#: Upper bounds (seconds) of the run-time and wait histogram buckets; a last bucket holds the
#: rest (``+Inf``). The same bounds are the Prometheus histograms' ``le`` labels.
BOUNDS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip

#: Bucket widths in seconds: each end is counted in its minute, hour and day rows.
MINUTE, HOUR, DAY = 60, 3600, 86400
SPANS = (MINUTE, HOUR, DAY)

#: Seconds minute rows are kept (the 1 h and 24 h charts read them), and hour rows (7 d, 30 d);
#: day rows are kept ``JOBS_ADMIN_STATS_RETENTION_DAYS``.
KEEP_MINUTES, KEEP_HOURS = 2 * DAY, 32 * DAY

#: The ``span`` of the all-time totals (``bucket`` 0): never dropped by the retention;
#: what the Prometheus counters read (a few rows, whatever the history).
TOTAL = 0

#: Column names of the run-time (``r``) and wait (``w``) histogram buckets.
RUN_COLS = tuple(f"r{i}" for i in range(len(BOUNDS) + 1))
WAIT_COLS = tuple(f"w{i}" for i in range(len(BOUNDS) + 1))

#: Every additive column (what an upsert adds up).
SUM_COLS = ("n", "run_n", "run_sum", "wait_n", "wait_sum", *RUN_COLS, *WAIT_COLS)

#: The key columns, in primary-key order.
KEY_COLS = ("span", "bucket", "type", "status", "created_by", "slot")


def bucket_of(seconds: float | None) -> int | None:
    """The index of the histogram bucket of a duration (``None``: no duration).

    :param seconds: a run time or a wait.
    """
    if seconds is None:
        return None
    for i, bound in enumerate(BOUNDS):
        if seconds <= bound:
            return i
    return len(BOUNDS)


def define_stat_table(metadata: sa.MetaData) -> sa.Table:
    """Define ``jobs_admin_stat`` on ``metadata`` (once; later calls return the same table).

    One row per (span, bucket, type, status, created_by, slot): ``bucket`` is the interval's
    start in Unix seconds (UTC), ``span`` its width (60, 3600 or 86400); ``slot`` spreads
    concurrent writers over a few rows as the job counters do; readers sum them.
    ``created_by`` (``""`` for jobs without a user) lets a user without ``view_all`` see the
    figures of their own jobs. ``n`` counts the ends; ``run_n``/``run_sum`` the ends that ran
    (a pending job cancelled did not) and their summed seconds, ``wait_*`` the same for the
    wait from ``run_at`` to the start; ``r0``..``r14`` and ``w0``..``w14`` count them per
    histogram bucket (see :data:`BOUNDS`).

    :param metadata: the host's ``db.metadata``.
    """
    if STAT_TABLE in metadata.tables:
        return metadata.tables[STAT_TABLE]
    counts: list[Any] = [
        sa.Column(name, sa.BigInteger, nullable=False, default=0)
        for name in ("n", "run_n", *RUN_COLS, "wait_n", *WAIT_COLS)
    ]
    return sa.Table(
        STAT_TABLE,
        metadata,
        sa.Column("span", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("created_by", sa.String(200), primary_key=True),
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("run_sum", sa.Float, nullable=False, default=0.0),
        sa.Column("wait_sum", sa.Float, nullable=False, default=0.0),
        *counts,
    )
