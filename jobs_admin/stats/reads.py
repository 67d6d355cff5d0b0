"""Reading rollups: the Insights charts' series and per-type figures, the metrics' totals.

Every read groups in SQL on the rollup table (never the jobs table): a chart of 90 days reads
the day, hour and minute rows of its range and adds them up into at most about a hundred
intervals, whatever the number of jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..statuses import FINISHED
from .model import BOUNDS, DAY, HOUR, MINUTE, RUN_COLS, TOTAL, WAIT_COLS
from .writes import epoch

#: The end statuses, in the order the charts stack them.
END_STATUSES = ("completed", "partial", "failed", "cancelled")
assert set(END_STATUSES) == {s.value for s in FINISHED}


@dataclass(frozen=True)
class Range:
    """A chart range: its length and the width of one interval (both in seconds)."""

    key: str
    label: str
    seconds: int
    step: int
    #: The rollup rows it reads (minute, hour or day rows).
    span: int


#: The Insights ranges: each reads one span of rollup rows (minute rows are kept two days, hour
#: rows 32 days, day rows the retention), as wide as its interval or narrower.
RANGES: dict[str, Range] = {
    r.key: r
    for r in (
        Range("1h", "1 h", 3600, 60, MINUTE),
        Range("24h", "24 h", 86400, 900, MINUTE),
        Range("7d", "7 d", 7 * 86400, 3 * 3600, HOUR),
        Range("30d", "30 d", 30 * 86400, 86400 // 4, HOUR),
        Range("90d", "90 d", 90 * 86400, 86400, DAY),
    )
}
DEFAULT_RANGE = "24h"


def _scope(t: sa.Table, span: int, type_: str | None, created_by: str | None) -> list[Any]:
    where: list[Any] = [t.c.span == span]
    if type_ is not None:
        where.append(t.c.type == type_)
    if created_by is not None:
        where.append(t.c.created_by == created_by)
    return where


def series(
    conn: Any,
    t: sa.Table,
    rng: Range,
    now: datetime,
    *,
    type_: str | None = None,
    created_by: str | None = None,
) -> dict[str, Any]:
    """Ends per interval and status over ``rng`` up to ``now``, and the failure rate.

    :param conn: a connection or session.
    :param t: the stat table.
    :param rng: the range.
    :param now: the end of the range (the current interval is the last, still growing).
    :param type_: only this job type.
    :param created_by: only the jobs of this user (``""``: jobs without a user).
    :returns: ``{"range", "step", "times": [interval starts], "counts": {status: [n]},
        "failure_rate": [percent or None]}``.
    """
    step = rng.step
    last = int(epoch(now)) // step * step
    first = last - (rng.seconds // step - 1) * step
    start = sa.bindparam("step", step, type_=sa.BigInteger)
    interval = (t.c.bucket - t.c.bucket % start).label("interval")
    rows = conn.execute(
        sa.select(interval, t.c.status, sa.func.sum(t.c.n))
        .where(t.c.bucket >= first, *_scope(t, rng.span, type_, created_by))
        .group_by(interval, t.c.status)
    ).all()
    times = list(range(first, last + step, step))
    index = {at: i for i, at in enumerate(times)}
    counts = {status: [0] * len(times) for status in END_STATUSES}
    for at, status, n in rows:
        i = index.get(int(at))
        if i is not None and status in counts:
            counts[status][i] += int(n or 0)
    rate: list[float | None] = []
    for i in range(len(times)):
        total = sum(counts[s][i] for s in END_STATUSES)
        rate.append(round(100.0 * counts["failed"][i] / total, 2) if total else None)
    return {"range": rng.key, "step": step, "times": times, "counts": counts, "failure_rate": rate}


def quantile(buckets: list[int], q: float) -> float | None:
    """The ``q`` quantile of a histogram, interpolated in its bucket (as Prometheus'
    ``histogram_quantile`` does); the last, open bucket answers its lower bound.

    :param buckets: counts per bucket of :data:`~jobs_admin.stats.model.BOUNDS` (and ``+Inf``).
    :param q: between 0 and 1.
    """
    total = sum(buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i >= len(BOUNDS):
                return BOUNDS[-1]
            low = BOUNDS[i - 1] if i else 0.0
            return low + (BOUNDS[i] - low) * (rank - seen) / n
        seen += n
    return BOUNDS[-1]


def by_type(
    conn: Any,
    t: sa.Table,
    since: datetime,
    *,
    span: int = MINUTE,
    type_: str | None = None,
    created_by: str | None = None,
) -> list[dict[str, Any]]:
    """Per job type since ``since``: ends, failures, failure rate, p50/p95 run time, p95 wait.

    :param span: the rollup rows to read (those of the chart's range).

    :returns: one dict per type, the busiest first.
    """
    failed = sa.func.sum(sa.case((t.c.status == "failed", t.c.n), else_=0))
    sums = [sa.func.sum(t.c[c]) for c in (*RUN_COLS, *WAIT_COLS)]
    rows = conn.execute(
        sa.select(t.c.type, sa.func.sum(t.c.n), failed, sa.func.sum(t.c.run_sum), *sums)
        .where(t.c.bucket >= int(epoch(since)), *_scope(t, span, type_, created_by))
        .group_by(t.c.type)
    ).all()
    out = []
    for row in rows:
        name, n, fails, run_sum, *hist = row
        n, fails = int(n or 0), int(fails or 0)
        runs = [int(v or 0) for v in hist[: len(RUN_COLS)]]
        waits = [int(v or 0) for v in hist[len(RUN_COLS) :]]
        out.append(
            {
                "type": name,
                "ends": n,
                "failed": fails,
                "failure_rate": round(100.0 * fails / n, 2) if n else None,
                "run_mean": (run_sum or 0.0) / sum(runs) if sum(runs) else None,
                "run_p50": quantile(runs, 0.5),
                "run_p95": quantile(runs, 0.95),
                "wait_p95": quantile(waits, 0.95),
            }
        )
    out.sort(key=lambda r: (-r["ends"], r["type"]))
    return out


def totals(conn: Any, t: sa.Table) -> list[dict[str, Any]]:
    """Everything the rollups hold, per (type, status): the metrics' counters and histograms.

    :returns: dicts with ``type``, ``status``, ``n``, ``run_sum``, ``wait_sum``, ``run`` and
        ``wait`` (counts per histogram bucket, not cumulative).
    """
    cols = [sa.func.sum(t.c[c]) for c in ("n", "run_sum", "wait_sum", *RUN_COLS, *WAIT_COLS)]
    rows = conn.execute(
        sa.select(t.c.type, t.c.status, *cols)
        .where(t.c.span == TOTAL)
        .group_by(t.c.type, t.c.status)
    )
    out = []
    for name, status, n, run_sum, wait_sum, *hist in rows:
        out.append(
            {
                "type": name,
                "status": status,
                "n": int(n or 0),
                "run_sum": float(run_sum or 0.0),
                "wait_sum": float(wait_sum or 0.0),
                "run": [int(v or 0) for v in hist[: len(RUN_COLS)]],
                "wait": [int(v or 0) for v in hist[len(RUN_COLS) :]],
            }
        )
    return out
