"""The Insights figures: chart series and per-type figures read from the rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import InvalidArgument
from ..models import utcnow
from ..runtime import Runtime
from ..stats import reads


def insights(
    rt: Runtime,
    range_key: str,
    *,
    type_: str | None = None,
    created_by: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Ends per interval and status, failure rate and per-type figures over a range.

    :param rt: the app's runtime.
    :param range_key: one of :data:`jobs_admin.stats.reads.RANGES` (``"1h"`` .. ``"90d"``).
    :param type_: only this job type (``None``: all).
    :param created_by: only the jobs of this user (``None``: everyone's; ``""``: no user's).
    :param now: the end of the range (default: now).
    :raises InvalidArgument: an unknown range.
    """
    rng = reads.RANGES.get(range_key)
    if rng is None:
        raise InvalidArgument(f"unknown range {range_key!r}; one of {', '.join(reads.RANGES)}")
    now = now or utcnow()
    session = rt.db.session
    table = rt.store.stats.table
    try:
        data = reads.series(session, table, rng, now, type_=type_, created_by=created_by)
        since = datetime.fromtimestamp(data["times"][0], tz=now.tzinfo)
        data["types"] = reads.by_type(
            session, table, since, span=rng.span, type_=type_, created_by=created_by
        )
    finally:
        session.rollback()
    data["now"] = int(now.timestamp())
    return data
